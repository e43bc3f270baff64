import QuorumConsensus
import QuorumNode

@testable import QuorumStorage

/// A node's storage with one group open in it, for the tests of what one group's storage does (group commit,
/// snapshots, failures, recovery): they open, use and close it as one thing.
final class SingleGroupStorage: NodeStorage, Sendable {
    typealias Options = NodeLogStorage.Options

    static let group = GroupID(1)

    let node: NodeLogStorage
    let storage: GroupLogStorage

    init(
        path: String, options: Options = Options(), onDurable: @escaping @Sendable (UInt64) -> Void,
        onFailure: @escaping @Sendable (StorageError) -> Void = { _ in }
    ) throws(StorageError) {
        let node = try NodeLogStorage(path: path, options: options)
        do {
            storage = try node.openGroup(Self.group, onDurable: onDurable, onFailure: onFailure)
        } catch {
            node.close()
            throw error
        }
        self.node = node
    }

    var recovered: RecoveredState { storage.recovered }
    var recoveryReport: RecoveryReport { storage.recoveryReport }
    var directory: DataDirectory { node.directory }
    var health: StorageHealth { storage.health }

    func persist(_ batch: PersistBatch) { storage.persist(batch) }
    func submit(_ batch: PersistBatch) throws(StorageError) { try storage.submit(batch) }
    func saveSnapshot(_ snapshot: Snapshot) { storage.saveSnapshot(snapshot) }
    func openNewestSnapshotForStreaming() throws(StorageError) -> SnapshotReader? {
        try storage.openNewestSnapshotForStreaming()
    }
    func close() { node.close() }
}
