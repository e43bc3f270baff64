import QuorumCodec

/// Binary encoding (log records, snapshots and the wire share it) of the hard state, version 1: `version u8 = 1 | term u64 | votedFor u64 (0 = none) | commit u64`.
extension HardState {
    public static let encodingVersion: UInt8 = 1

    public func encode(into writer: inout ByteWriter) {
        writer.write(HardState.encodingVersion)
        writer.write(term.rawValue)
        writer.write(votedFor?.rawValue ?? 0)
        writer.write(commitIndex.rawValue)
    }

    public static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> HardState {
        let version = try reader.readByte("hard state version")
        guard version == encodingVersion else {
            throw .unsupportedVersion(what: "hard state", version: version)
        }
        let term = Term(try reader.read(UInt64.self, "hard state term"))
        let vote = try reader.read(UInt64.self, "hard state vote")
        let commit = try reader.readLogIndex("hard state commit index")
        return HardState(term: term, votedFor: vote == 0 ? nil : NodeID(vote), commitIndex: commit)
    }
}
