import QuorumCodec

extension ByteReader {
    /// Reads a log index. The core does index arithmetic in `Int`, so an index above `Int.max` would trap
    /// there; it is refused here instead.
    public mutating func readLogIndex(_ field: String) throws(DecodingFailure) -> LogIndex {
        let raw = try read(UInt64.self, field)
        guard raw <= UInt64(Int.max) else { throw .invalid(field: field, value: raw) }
        return LogIndex(raw)
    }

    /// Reads a node id; 0 means "nobody" and is never a valid member.
    public mutating func readNodeID(_ field: String) throws(DecodingFailure) -> NodeID {
        let raw = try read(UInt64.self, field)
        guard raw != 0 else { throw .invalid(field: field, value: 0) }
        return NodeID(raw)
    }
}
