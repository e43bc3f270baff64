import QuorumCodec
import QuorumConsensus
import QuorumStore
import QuorumWire

/// A backup of a cluster (`quorum snapshot save`): every group's store at a linearizable point of that group, with a
/// header that lets a damaged or truncated file be refused before anything is restored from it.
///
///     header (52 bytes)
///       magic "QUORUMBK" | version u32 = 1 | taken at u64 (ms since the Unix epoch) | cluster id u64
///       | cluster groups u32 (the groups it was founded with) | group count u32 | body length u64
///       | body crc32c u32 | header crc32c u32 (of the 48 bytes before it)
///     body: per group, by ascending group id
///       group u64 | revision u64 | applied index u64 | key count u64 | store length u64 | store bytes
///
/// The store bytes are `KeyValueStore.snapshot()`, the same bytes the node's own snapshots hold. Decoding checks the
/// header's checksum, then the body's length and checksum, then every group: its store must restore, at the revision
/// and with the key count the file names.
public struct BackupFile: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var group: GroupID
        /// Every write acknowledged at or below it is in the store, none above.
        public var revision: Revision
        /// The log index the store reflects in the cluster it came from.
        public var appliedIndex: LogIndex
        /// The keys clients can see (the cluster's own, under `\0quorum/`, not counted).
        public var keyCount: UInt64
        public var store: [UInt8]

        public init(group: GroupID, revision: Revision, appliedIndex: LogIndex, keyCount: UInt64, store: [UInt8]) {
            self.group = group
            self.revision = revision
            self.appliedIndex = appliedIndex
            self.keyCount = keyCount
            self.store = store
        }

        /// A group as its leader served it, once its store has been checked to restore.
        /// - Throws: `BackupFileError` if the store does not restore or disagrees with the leader's revision.
        public init(_ backup: GroupBackup) throws(BackupFileError) {
            let store = try Self.restore(backup.store, of: backup.group)
            guard store.revision == backup.revision else {
                throw BackupFileError(
                    "\(backup.group)'s store is at revision \(store.revision.rawValue), not the \(backup.revision.rawValue) "
                        + "its leader named")
            }
            self.init(
                group: backup.group, revision: backup.revision, appliedIndex: backup.appliedIndex,
                keyCount: UInt64(store.clientKeyCount), store: backup.store)
        }

        static func restore(_ bytes: [UInt8], of group: GroupID) throws(BackupFileError) -> KeyValueStore {
            do {
                return try KeyValueStore(restoringFrom: bytes)
            } catch {
                throw BackupFileError("\(group)'s store does not restore: \(error)")
            }
        }
    }

    public static let magic: [UInt8] = Array("QUORUMBK".utf8)
    public static let version: UInt32 = 1
    public static let headerBytes = 52
    static let groupHeaderBytes = 40

    /// When the backup was taken, in milliseconds since the Unix epoch.
    public var takenAt: UInt64
    /// The cluster it was taken of; a restored cluster gets a new id.
    public var clusterID: UInt64
    /// The groups that cluster was founded with (`--groups`): the restored cluster spreads the Redis port's hash slots
    /// over as many.
    public var clusterGroups: Int
    /// Ascending by group id, each once; group 1 (the cluster's own) among them.
    public var groups: [Group]

    /// - Throws: `BackupFileError` if the groups are not what a cluster's backup holds.
    public init(takenAt: UInt64, clusterID: UInt64, clusterGroups: Int, groups: [Group]) throws(BackupFileError) {
        self.takenAt = takenAt
        self.clusterID = clusterID
        self.clusterGroups = clusterGroups
        self.groups = groups
        try validate()
    }

    private func validate() throws(BackupFileError) {
        guard groups.first?.group == GroupID(1) else {
            throw BackupFileError("it lacks group 1, the cluster's own")
        }
        for (previous, next) in zip(groups, groups.dropFirst()) where previous.group >= next.group {
            throw BackupFileError("its groups are not in ascending order (\(next.group) after \(previous.group))")
        }
        guard (1...ServerConfiguration.bootstrapGroupsMax).contains(clusterGroups) else {
            throw BackupFileError("it says its cluster was founded with \(clusterGroups) groups")
        }
        // Every founding group is on every founding member; the Redis port's hash slots map to all of them.
        let founding = groups.prefix { $0.group.rawValue <= UInt64(clusterGroups) }
        guard founding.count == clusterGroups else {
            throw BackupFileError(
                "it holds \(founding.count) of the \(clusterGroups) groups its cluster was founded with; a backup "
                    + "covers every group (list every node in --endpoints)")
        }
        for group in groups where group.appliedIndex == .zero || group.appliedIndex.rawValue > LogIndex.ceiling.rawValue
        {
            throw BackupFileError("\(group.group) claims applied index \(group.appliedIndex.rawValue)")
        }
    }

    /// The client-visible keys of every group.
    public var keyCount: UInt64 { groups.reduce(0) { $0 + $1.keyCount } }

    public var encoded: [UInt8] {
        var body = ByteWriter(capacity: groups.reduce(0) { $0 + Self.groupHeaderBytes + $1.store.count })
        for group in groups {
            body.write(group.group.rawValue)
            body.write(group.revision.rawValue)
            body.write(group.appliedIndex.rawValue)
            body.write(group.keyCount)
            body.write(UInt64(group.store.count))
            body.write(contentsOf: group.store)
        }
        var writer = ByteWriter(capacity: Self.headerBytes + body.bytes.count)
        writer.write(contentsOf: Self.magic)
        writer.write(Self.version)
        writer.write(takenAt)
        writer.write(clusterID)
        writer.write(UInt32(clusterGroups))
        writer.write(UInt32(groups.count))
        writer.write(UInt64(body.bytes.count))
        writer.write(CRC32C.checksum(body.bytes))
        writer.write(CRC32C.checksum(writer.bytes))
        writer.write(contentsOf: body.bytes)
        return writer.bytes
    }

    /// Reads a backup file's bytes, checking everything before anything is believed.
    /// - Throws: `BackupFileError` saying what is wrong: not a backup, another version, a damaged header, truncated,
    ///   followed by stray bytes, a body that fails its checksum, or a group that does not decode or restore.
    public init(decoding bytes: [UInt8]) throws(BackupFileError) {
        guard bytes.starts(with: Self.magic) else {
            if bytes.count < Self.magic.count, Self.magic.starts(with: bytes) {
                throw BackupFileError("it is truncated: \(bytes.count) bytes, shorter than its header")
            }
            throw BackupFileError("it is not a Quorum backup (it does not start with \"QUORUMBK\")")
        }
        guard bytes.count >= Self.headerBytes else {
            throw BackupFileError(
                "it is truncated: \(bytes.count) bytes, shorter than its \(Self.headerBytes)-byte header")
        }
        var header = ByteReader(bytes, range: Self.magic.count..<Self.headerBytes)
        do {
            let version = try header.read(UInt32.self, "version")
            guard version == Self.version else {
                throw BackupFileError(
                    "it is a backup of format version \(version), and this build reads version \(Self.version)")
            }
            takenAt = try header.read(UInt64.self, "taken at")
            clusterID = try header.read(UInt64.self, "cluster id")
            let clusterGroups = try header.read(UInt32.self, "cluster groups")
            let groupCount = try header.read(UInt32.self, "group count")
            let bodyBytes = try header.read(UInt64.self, "body length")
            let bodyChecksum = try header.read(UInt32.self, "body checksum")
            let headerChecksum = try header.read(UInt32.self, "header checksum")
            guard CRC32C.checksum(bytes[..<(Self.headerBytes - 4)]) == headerChecksum else {
                throw BackupFileError("its header is damaged (checksum mismatch)")
            }
            let present = UInt64(bytes.count - Self.headerBytes)
            guard present >= bodyBytes else {
                throw BackupFileError(
                    "it is truncated: its header promises \(bodyBytes) bytes of groups, and the file holds \(present)")
            }
            guard present == bodyBytes else {
                throw BackupFileError(
                    "\(present - bodyBytes) bytes follow the \(bodyBytes) its header promises; it was not written whole "
                        + "by quorum snapshot save")
            }
            guard CRC32C.checksum(bytes[Self.headerBytes...]) == bodyChecksum else {
                throw BackupFileError("it is damaged: its \(bodyBytes) bytes of groups fail their checksum")
            }
            var body = ByteReader(bytes, range: Self.headerBytes..<bytes.count)
            var groups: [Group] = []
            for _ in 0..<groupCount {
                let group = GroupID(try body.read(UInt64.self, "group"))
                let revision = Revision(try body.read(UInt64.self, "revision"))
                let appliedIndex = LogIndex(try body.read(UInt64.self, "applied index"))
                let keyCount = try body.read(UInt64.self, "key count")
                let store = try body.readBytes(count: try body.read(UInt64.self, "store length"), "store")
                let restored = try Group.restore(store, of: group)
                guard restored.revision == revision, UInt64(restored.clientKeyCount) == keyCount else {
                    throw BackupFileError(
                        "\(group)'s store holds \(restored.clientKeyCount) keys at revision \(restored.revision.rawValue)"
                            + ", and the file says \(keyCount) at \(revision.rawValue)")
                }
                groups.append(
                    Group(
                        group: group, revision: revision, appliedIndex: appliedIndex, keyCount: keyCount, store: store))
            }
            try body.expectEnd(of: "the groups")
            self.clusterGroups = Int(clusterGroups)
            self.groups = groups
        } catch let error as BackupFileError {
            throw error
        } catch {
            throw BackupFileError("it does not decode: \(error)")
        }
        try validate()
    }
}

/// Why a backup cannot be made, read or restored; the message says what is wrong.
public struct BackupFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
