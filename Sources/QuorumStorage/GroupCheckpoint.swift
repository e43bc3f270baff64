import QuorumCodec
import QuorumConsensus

/// A group's whole live log in one record: what rewriting a lagging group writes (see
/// `WriteAheadLog.releaseSegments()`).
///
/// One record, so one checksum: a crash leaves all of it or none of it. Written as separate entry records instead,
/// a crash after some of them reached the disk would leave a prefix of the rewrite, and on replay its first entry
/// would cut off every later entry of the group, acknowledged or not.
///
/// On replay it replaces the group's log: its entries, and its snapshot reset (none when the entries no longer
/// start right after one); a hard state, when it holds one, replaces the group's.
///
///     version u8 = 1 | has reset u8 | [snapshot point] | has hard state u8 | [hard state]
///     | entry count u32 | entries, contiguous, after the reset if there is one
struct GroupCheckpoint: Hashable {
    static let encodingVersion: UInt8 = 1

    var snapshotReset: SnapshotPoint?
    var entries: [Entry]
    var hardState: HardState?

    /// The highest index it names, for the segment it is in.
    var highestIndex: LogIndex? { entries.last?.index ?? snapshotReset?.index }

    func encode(into writer: inout ByteWriter) {
        writer.write(GroupCheckpoint.encodingVersion)
        writer.write(UInt8(snapshotReset == nil ? 0 : 1))
        snapshotReset?.encode(into: &writer)
        writer.write(UInt8(hardState == nil ? 0 : 1))
        hardState?.encode(into: &writer)
        writer.write(UInt32(entries.count))
        for entry in entries { entry.encode(into: &writer) }
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> GroupCheckpoint {
        let version = try reader.readByte("group checkpoint version")
        guard version == encodingVersion else { throw .unsupportedVersion(what: "group checkpoint", version: version) }
        let snapshotReset = try reader.readBool("group checkpoint has reset") ? try decodePoint(&reader) : nil
        let hardState =
            try reader.readBool("group checkpoint has hard state") ? try HardState.decode(from: &reader) : nil
        // The smallest entry (a noop) encodes to 18 bytes.
        let count = try reader.readCount("group checkpoint entry count", minimumItemBytes: 18)
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let entry = try Entry.decode(from: &reader)
            if let last = entries.last, entry.index != last.index.advanced(by: 1) {
                throw .inconsistent("group checkpoint entry \(entry.index) follows \(last.index): not contiguous")
            }
            entries.append(entry)
        }
        if let snapshotReset, let first = entries.first, first.index != snapshotReset.index.advanced(by: 1) {
            throw .inconsistent(
                "group checkpoint entries start at \(first.index), not right after its reset \(snapshotReset)")
        }
        return GroupCheckpoint(snapshotReset: snapshotReset, entries: entries, hardState: hardState)
    }

    /// A snapshot point inside a checkpoint, whose own decoder would refuse the bytes that follow it.
    private static func decodePoint(_ reader: inout ByteReader) throws(DecodingFailure) -> SnapshotPoint {
        let version = try reader.readByte("snapshot reset version")
        guard version == SnapshotPoint.storageEncodingVersion else {
            throw .unsupportedVersion(what: "snapshot reset", version: version)
        }
        let index = try reader.readLogIndex("snapshot reset index")
        return SnapshotPoint(index: index, term: Term(try reader.read(UInt64.self, "snapshot reset term")))
    }
}
