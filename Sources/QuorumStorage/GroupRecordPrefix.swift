import QuorumCodec
import QuorumConsensus

/// The start of every log record that belongs to a group: `layout u8 = 1 | group u64`, then the record's own
/// encoding (an entry, a hard state, a snapshot point, or nothing for a tombstone or revival).
///
/// The layout byte lets a later build change how a record names its group; this build refuses any other layout
/// as corruption rather than guess which group a record is for.
enum GroupRecordPrefix {
    static let layout: UInt8 = 1

    static func encode(_ group: GroupID, into writer: inout ByteWriter) {
        writer.write(layout)
        writer.write(group.rawValue)
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> GroupID {
        let found = try reader.readByte("group record layout")
        guard found == layout else { throw .unsupportedVersion(what: "group record layout", version: found) }
        return GroupID(try reader.read(UInt64.self, "group"))
    }
}
