import Foundation
import NIOCore
import QuorumConsensus
import QuorumStorage

/// Where each group's replica keeps its log and snapshots: `<data-dir>/group-<id>/`, one locked storage directory
/// per group. The cluster group's directory also keeps the node's `CLUSTER` identity and its `TOMBSTONES`.
struct GroupStorages: Sendable {
    static let tombstonesFile = "TOMBSTONES"

    let root: String
    let walOptions: WriteAheadLog.Options
    /// Groups other than the cluster's are small and many: smaller segments, not preallocated, so that a node
    /// hosting a hundred of them does not reserve gigabytes it never writes.
    let smallGroupWALOptions: WriteAheadLog.Options

    init(configuration: ServerConfiguration, metrics: NodeMetrics) {
        root = configuration.dataDirectory
        let io = TimedFileIO(io: PosixFileIO(), syncDuration: metrics.walFsyncDuration)
        walOptions = WriteAheadLog.Options(io: io)
        smallGroupWALOptions = WriteAheadLog.Options(segmentBytes: 4 << 20, preallocate: false, io: io)
    }

    func path(of group: GroupID) -> String { root + "/group-\(group.rawValue)" }

    /// Opens (creating if needed) and recovers `group`'s storage. The callbacks run on the fsync thread.
    func open(
        _ group: GroupID, loop: any EventLoop, onDurable: @escaping @Sendable (GroupID, UInt64) -> Void,
        onFailure: @escaping @Sendable (GroupID, StorageError) -> Void
    ) throws -> FileNodeStorage {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let options = group == NodeHost.clusterGroup ? walOptions : smallGroupWALOptions
        return try FileNodeStorage(
            path: path(of: group), options: FileNodeStorage.Options(writeAheadLog: options),
            onDurable: { readyNumber in onDurable(group, readyNumber) }, onFailure: { error in onFailure(group, error) }
        )
    }

    /// The groups that have a storage directory here.
    func existingGroups() -> Set<GroupID> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return Set(
            names.compactMap { name in
                guard name.hasPrefix("group-"), let id = UInt64(name.dropFirst("group-".count)), id > 0 else {
                    return nil
                }
                return GroupID(id)
            })
    }

    /// Deletes a destroyed group's data. Its tombstone must already be recorded.
    func remove(_ group: GroupID) throws { try FileManager.default.removeItem(atPath: path(of: group)) }

    func tombstones(in directory: DataDirectory) throws -> Set<GroupID> {
        guard let bytes = try directory.readMetadata(Self.tombstonesFile) else { return [] }
        var groups = Set<GroupID>()
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let id = UInt64(line), id > 0 else {
                throw ConfigurationError(
                    "\(directory.path)/\(Self.tombstonesFile) holds '\(line)', not a group id; restore the file from a"
                        + " backup of the directory")
            }
            groups.insert(GroupID(id))
        }
        return groups
    }

    func recordTombstones(_ groups: Set<GroupID>, in directory: DataDirectory) throws {
        let text = groups.sorted().map { "\($0.rawValue)\n" }.joined()
        try directory.writeMetadata(Self.tombstonesFile, Array(text.utf8))
    }
}
