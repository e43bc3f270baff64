import Foundation
import QuorumConsensus
import QuorumNode
import QuorumStorage
import QuorumStore
import Synchronization

/// Creates the data directory of one node of a new cluster from a backup (`quorum snapshot restore`): every group of
/// the backup becomes a snapshot that the node's storage writes as it writes a snapshot installed from a leader, and
/// the directory's identity names a new cluster founded with the given members, each a voter of every group.
///
/// Every member of the new cluster is restored from the same file with the same member list; they then agree on the
/// new cluster's id without talking (`ClusterIdentity.restoredID`), and it differs from the backed-up cluster's, so
/// the two never take each other's messages.
public enum ClusterRestore {
    /// What a restore made.
    public struct Outcome: Sendable {
        public var clusterID: UInt64
        public var dataDirectory: String
        public var groups: Int

        public var clusterDescription: String { ClusterIdentity.describe(clusterID) }
    }

    /// Writes `backup` into a new data directory at `path` for `node` of a cluster founded with `members`. The
    /// directory is made beside it under `<path>.restoring` and renamed into place once complete, so a restore that
    /// fails or is killed leaves no directory a server would start on.
    /// - Throws: `BackupFileError` if `path` already holds anything, `node` is not among `members`, or storage fails.
    /// - Parameter progress: told of each group once it is written, with how many are written so far.
    public static func restore(
        _ backup: BackupFile, into path: String, node: NodeID, members: [NodeID: MemberAddress],
        progress: (BackupFile.Group, Int) -> Void = { _, _ in }
    ) throws -> Outcome {
        guard members[node] != nil else {
            throw BackupFileError("node \(node.rawValue) is not in the cluster list")
        }
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = files.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && (!isDirectory.boolValue || (try? files.contentsOfDirectory(atPath: path))?.isEmpty != true) {
            throw BackupFileError(
                "\(path) already exists and is not an empty directory; a restore creates the data directory of a new "
                    + "node, so give one that does not exist or is empty")
        }
        let staging = path + ".restoring"
        guard !files.fileExists(atPath: staging) else {
            throw BackupFileError(
                "\(staging) exists, left by a restore that did not finish; remove it and restore again")
        }
        var identity = ClusterIdentity(
            configuration: ServerConfiguration(node: node, members: members, dataDirectory: path))
        identity.clusterID = ClusterIdentity.restoredID(founding: members, from: backup)
        identity.bootstrapGroups = backup.clusterGroups
        identity.clusterGroups = backup.clusterGroups
        let parent = parentDirectory(of: path)
        if !parent.isEmpty { try files.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        do {
            let storage = try NodeLogStorage(path: staging)
            defer { storage.close() }
            for (position, group) in backup.groups.enumerated() {
                try write(group, voters: identity.foundingVoters, into: storage)
                progress(group, position + 1)
            }
            try storage.directory.writeMetadata(ClusterIdentity.fileName, identity.encoded)
        } catch {
            try? files.removeItem(atPath: staging)
            throw error
        }
        // Checked above to be an empty directory.
        if exists { try files.removeItem(atPath: path) }
        try files.moveItem(atPath: staging, toPath: path)
        return Outcome(clusterID: identity.clusterID!, dataDirectory: path, groups: backup.groups.count)
    }

    /// Persists `group` as a snapshot at its applied index, term 1, with `voters` as its configuration, and waits
    /// until storage says it is durable.
    private static func write(
        _ group: BackupFile.Group, voters: Set<NodeID>, into storage: NodeLogStorage
    ) throws {
        let outcome = Mutex<Result<Void, StorageError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let handle = try storage.openGroup(
            group.group,
            onDurable: { _ in
                outcome.withLock { $0 = .success(()) }
                done.signal()
            },
            onFailure: { error in
                outcome.withLock { $0 = .failure(error) }
                done.signal()
            })
        let snapshot = Snapshot(
            lastIncludedIndex: group.appliedIndex, lastIncludedTerm: 1, configuration: Configuration(voters: voters),
            data: try store(of: group))
        try handle.submit(
            PersistBatch(
                readyNumber: 1, snapshot: snapshot, entries: [],
                hardState: HardState(term: 1, commitIndex: group.appliedIndex), mustSync: true))
        done.wait()
        try outcome.withLock { $0 }?.get()
    }

    /// The group's store bytes as the new cluster starts from them. Group 1 keeps the addresses of the members added
    /// to the old cluster after it was founded: those are dropped (one deletion, so its revision moves on by one when
    /// there were any), or the new cluster would send its liveness signal to the old cluster's nodes.
    private static func store(of group: BackupFile.Group) throws -> [UInt8] {
        guard group.group == NodeHost.clusterGroup else { return group.store }
        var store = try BackupFile.Group.restore(group.store, of: group.group)
        let prefix = AddressBook.memberKeyPrefix
        guard (try store.range(.prefix(prefix, countOnly: true))).count > 0 else { return group.store }
        _ = store.apply(.deleteRange(DeleteRangeRequest(key: prefix, rangeEnd: KeyRange.prefixEnd(of: prefix))))
        return store.snapshot()
    }
}
