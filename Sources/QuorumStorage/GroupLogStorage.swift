import QuorumConsensus
import QuorumNode
import Synchronization

/// One consensus group's storage on a node: its share of the node's write-ahead log and its own snapshots,
/// handed out by `NodeLogStorage.openGroup`. The `NodeStorage` a group's driver writes through.
///
/// `persist` only enqueues; `onDurable` reports the group's highest ready number made durable, on the node's fsync
/// thread, after a group commit that may have carried other groups' batches too. If the node's storage fails,
/// every group fails with it.
public final class GroupLogStorage: NodeStorage, Sendable {
    public let group: GroupID
    /// What the group's engine restarts from.
    public let recovered: RecoveredState
    public let recoveryReport: RecoveryReport

    let onDurable: @Sendable (UInt64) -> Void
    let onFailure: @Sendable (StorageError) -> Void
    /// The newest snapshot file on disk, for readers on other threads; set by the fsync thread.
    let newestSnapshotFile: Mutex<SnapshotStore.File?>
    private let node: NodeLogStorage

    init(
        group: GroupID, node: NodeLogStorage, recovered: RecoveredState, recoveryReport: RecoveryReport,
        newestSnapshot: SnapshotStore.File?, onDurable: @escaping @Sendable (UInt64) -> Void,
        onFailure: @escaping @Sendable (StorageError) -> Void
    ) {
        self.group = group
        self.node = node
        self.recovered = recovered
        self.recoveryReport = recoveryReport
        self.newestSnapshotFile = Mutex(newestSnapshot)
        self.onDurable = onDurable
        self.onFailure = onFailure
    }

    /// The node's storage health; `.closed` for a group destroyed since.
    public var health: StorageHealth { node.health(of: group) }

    /// Enqueues `batch`; `onDurable` reports it once durable. Refused at once (through `onFailure`) after a
    /// failure, `close()` of the node's storage, or the group's destruction.
    public func persist(_ batch: PersistBatch) {
        do { try submit(batch) } catch { onFailure(error) }
    }

    /// Like `persist`, but throws if storage has failed or is closed, or the group was destroyed.
    public func submit(_ batch: PersistBatch) throws(StorageError) {
        try node.submit(batch, for: group)
    }

    /// Enqueues a snapshot the node took itself; once written, the group's log before its retained snapshots is
    /// no longer needed.
    public func saveSnapshot(_ snapshot: Snapshot) {
        do { try node.saveSnapshot(snapshot, for: group) } catch { onFailure(error) }
    }

    /// Opens the group's newest snapshot on disk for chunked reading (to send to a follower), or nil if there is
    /// none. Callable from any thread; the reader stays valid even if a newer snapshot replaces the file meanwhile.
    public func openNewestSnapshotForStreaming() throws(StorageError) -> SnapshotReader? {
        // Retention removes a snapshot only after a newer one is in place, so a file that vanished between
        // looking it up and opening it has a successor: look again.
        var path = ""
        for _ in 0..<3 {
            guard let file = newestSnapshotFile.withLock({ $0 }) else { return nil }
            path = file.path
            do {
                return try SnapshotReader(file: file)
            } catch {
                if Posix.exists(file.path) { throw error }
            }
        }
        throw StorageError(
            .ioFailure, path: path, "snapshots of \(group) kept changing while opening the newest (\(path)); retry")
    }
}
