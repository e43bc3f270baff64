import QuorumCodec

/// Binary encoding (log records, snapshots and the wire share it) of a snapshot, version 1:
///
///     version u8 = 1 | lastIncludedIndex u64 | lastIncludedTerm u64
///     | voters: count u32, ids u64… | learners: count u32, ids u64… | learnersToPromote: count u32, ids u64…
///     | data length u64 | data
///
/// Node ids are written sorted so that equal snapshots encode to equal bytes.
extension Snapshot {
    public static let encodingVersion: UInt8 = 1

    public func encode(into writer: inout ByteWriter) {
        writer.write(Snapshot.encodingVersion)
        writer.write(lastIncludedIndex.rawValue)
        writer.write(lastIncludedTerm.rawValue)
        for members in [configuration.voters, configuration.learners, configuration.learnersToPromote] {
            writer.write(UInt32(members.count))
            for node in members.sorted() { writer.write(node.rawValue) }
        }
        writer.write(UInt64(data.count))
        writer.write(contentsOf: data)
    }

    public static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> Snapshot {
        let version = try reader.readByte("snapshot version")
        guard version == encodingVersion else { throw .unsupportedVersion(what: "snapshot", version: version) }
        let index = try reader.readLogIndex("snapshot index")
        let term = Term(try reader.read(UInt64.self, "snapshot term"))
        let voters = try decodeMembers(from: &reader, "voters")
        let learners = try decodeMembers(from: &reader, "learners")
        let learnersToPromote = try decodeMembers(from: &reader, "learnersToPromote")
        // Configuration's initialiser checks these with preconditions; disk input must be refused first.
        guard voters.isDisjoint(with: learners) else {
            throw .inconsistent("snapshot configuration lists a node as both voter and learner")
        }
        guard learnersToPromote.isSubset(of: learners) else {
            throw .inconsistent("snapshot configuration promotes a node that is not a learner")
        }
        let length = try reader.read(UInt64.self, "snapshot data length")
        let data = try reader.readBytes(count: length, "snapshot data")
        return Snapshot(
            lastIncludedIndex: index, lastIncludedTerm: term,
            configuration: Configuration(voters: voters, learners: learners, learnersToPromote: learnersToPromote),
            data: data)
    }

    private static func decodeMembers(from reader: inout ByteReader, _ field: String) throws(DecodingFailure)
        -> Set<NodeID>
    {
        let count = try reader.readCount("\(field) count", minimumItemBytes: 8)
        var members = Set<NodeID>(minimumCapacity: count)
        for _ in 0..<count {
            let node = try reader.readNodeID(field)
            guard members.insert(node).inserted else {
                throw .inconsistent("snapshot configuration lists \(node) twice among \(field)")
            }
        }
        return members
    }
}
