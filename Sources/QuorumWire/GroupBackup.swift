import QuorumCodec
import QuorumConsensus
import QuorumStore

/// One group's store as its leader served it for a backup (`quorum snapshot save`): taken after a ReadIndex, so at a
/// linearizable point of the group, and serialised as the node serialises its own snapshots (`KeyValueStore.snapshot`).
///
///     group u64 | cluster id u64 | cluster groups u32 (0: not known) | revision u64 | applied index u64
///     | store length u64 | store bytes
public struct GroupBackup: Hashable, Sendable {
    public var group: GroupID
    /// The answering node's cluster, so that a backup never mixes the groups of two clusters.
    public var clusterID: UInt64
    /// The groups the cluster was founded with (`--groups`), over which the Redis port spreads its hash slots; nil
    /// when the answering node has not learned it yet.
    public var clusterGroups: Int?
    /// The store's revision in the snapshot: every write acknowledged at or below it is in it, none above.
    public var revision: Revision
    /// The log index the snapshot reflects.
    public var appliedIndex: LogIndex
    /// `KeyValueStore.snapshot()` bytes.
    public var store: [UInt8]

    public init(
        group: GroupID, clusterID: UInt64, clusterGroups: Int?, revision: Revision, appliedIndex: LogIndex,
        store: [UInt8]
    ) {
        self.group = group
        self.clusterID = clusterID
        self.clusterGroups = clusterGroups
        self.revision = revision
        self.appliedIndex = appliedIndex
        self.store = store
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(group.rawValue)
        writer.write(clusterID)
        writer.write(UInt32(clamping: clusterGroups ?? 0))
        writer.write(revision.rawValue)
        writer.write(appliedIndex.rawValue)
        writer.write(UInt64(store.count))
        writer.write(contentsOf: store)
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> GroupBackup {
        let group = try reader.read(UInt64.self, "backup group")
        guard group != 0 else { throw .invalid(field: "backup group", value: 0) }
        let clusterID = try reader.read(UInt64.self, "backup cluster id")
        let clusterGroups = try reader.read(UInt32.self, "backup cluster groups")
        let revision = try reader.read(UInt64.self, "backup revision")
        let applied = try reader.readLogIndex("backup applied index")
        let length = try reader.read(UInt64.self, "backup store length")
        let store = try reader.readBytes(count: length, "backup store")
        return GroupBackup(
            group: GroupID(group), clusterID: clusterID, clusterGroups: clusterGroups == 0 ? nil : Int(clusterGroups),
            revision: Revision(revision), appliedIndex: applied, store: store)
    }
}
