import QuorumConsensus
import QuorumNode

/// The storage of a node that hosts one consensus group: a `NodeLogStorage` in `path` with group 1 open in it.
///
/// Kept so that a host written for one group needs no change; it holds no logic of its own. A host of several
/// groups opens a `NodeLogStorage` itself and calls `openGroup` for each.
public final class FileNodeStorage: NodeStorage, Sendable {
    public typealias Options = NodeLogStorage.Options

    /// The group this storage serves.
    public static let group = GroupID(1)

    public let node: NodeLogStorage
    public let storage: GroupLogStorage

    /// Opens and locks the data directory, recovers from it and starts the fsync thread (see `NodeLogStorage`).
    /// - Parameters:
    ///   - onDurable: called on the fsync thread with the highest ready number made durable.
    ///   - onFailure: called when storage fails (on the fsync thread), and for each batch refused after that
    ///     (synchronously, on the thread that called `persist`).
    /// - Throws: whatever opening the directory or recovery refuses (`.directoryLocked`,
    ///   `.unsupportedFormatVersion`, `.corruption`, `.missingData`), or an I/O failure.
    public init(
        path: String, options: Options = Options(),
        onDurable: @escaping @Sendable (UInt64) -> Void,
        onFailure: @escaping @Sendable (StorageError) -> Void = { _ in }
    ) throws(StorageError) {
        let node = try NodeLogStorage(path: path, options: options)
        do {
            storage = try node.openGroup(FileNodeStorage.group, onDurable: onDurable, onFailure: onFailure)
        } catch {
            node.close()
            throw error
        }
        self.node = node
    }

    public var recovered: RecoveredState { storage.recovered }
    public var recoveryReport: RecoveryReport { storage.recoveryReport }
    public var directory: DataDirectory { node.directory }
    public var health: StorageHealth { storage.health }

    public func persist(_ batch: PersistBatch) { storage.persist(batch) }
    public func submit(_ batch: PersistBatch) throws(StorageError) { try storage.submit(batch) }
    public func saveSnapshot(_ snapshot: Snapshot) { storage.saveSnapshot(snapshot) }

    public func openNewestSnapshotForStreaming() throws(StorageError) -> SnapshotReader? {
        try storage.openNewestSnapshotForStreaming()
    }

    /// Writes what is queued, stops the fsync thread and releases the directory. Idempotent.
    public func close() { node.close() }
}
