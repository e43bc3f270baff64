import QuorumCodec

/// A WAL segment's identity. Segments are named `wal-<sequence as 16 hex digits>.log` and numbered without
/// gaps, so a segment missing in the middle is detected by its number; the sequence number is also written in
/// the segment's header record, so a renamed or copied segment is detected too.
struct SegmentFile: Hashable, Comparable {
    let sequence: UInt64

    static let prefix = "wal-"
    static let suffix = ".log"
    /// The spare file the log keeps ready for its next segment (see `WriteAheadLog`). It lacks the segment suffix
    /// and the sixteen hex digits, so `init?(fileName:)` never takes it for a segment; it holds no records until a
    /// rollover writes and renames it, so recovery deletes any it finds.
    static let spareFileName = "wal-spare.tmp"
    /// Segment header payload: magic, then format version u16 and sequence u64.
    static let magic: [UInt8] = Array("QWAL".utf8)

    init(sequence: UInt64) { self.sequence = sequence }

    /// Parses a directory entry; nil if it is not a segment's name.
    init?(fileName: String) {
        guard fileName.hasPrefix(SegmentFile.prefix), fileName.hasSuffix(SegmentFile.suffix) else { return nil }
        let digits = fileName.dropFirst(SegmentFile.prefix.count).dropLast(SegmentFile.suffix.count)
        guard digits.count == 16, let sequence = UInt64(digits, radix: 16) else { return nil }
        self.sequence = sequence
    }

    var fileName: String {
        let digits = String(sequence, radix: 16)
        return SegmentFile.prefix + String(repeating: "0", count: 16 - digits.count) + digits + SegmentFile.suffix
    }

    static func < (lhs: SegmentFile, rhs: SegmentFile) -> Bool { lhs.sequence < rhs.sequence }

    func encodeHeader(into writer: inout ByteWriter) {
        writer.write(contentsOf: SegmentFile.magic)
        writer.write(UInt16(DataDirectory.formatVersion))
        writer.write(sequence)
    }

    /// Checks a segment header payload against this file's name.
    func validateHeader(_ reader: inout ByteReader) throws(DecodingFailure) {
        let magic = try reader.readBytes(count: 4, "segment magic")
        guard magic == SegmentFile.magic else { throw .inconsistent("segment header has the wrong magic") }
        let version = try reader.read(UInt16.self, "segment format version")
        guard version == DataDirectory.formatVersion else {
            throw .inconsistent(
                "segment format version \(version), but this build reads only \(DataDirectory.formatVersion)")
        }
        let sequence = try reader.read(UInt64.self, "segment sequence")
        guard sequence == self.sequence else {
            throw .inconsistent("segment header says sequence \(sequence), but the file is named \(fileName)")
        }
        try reader.expectEnd(of: "segment header")
    }
}
