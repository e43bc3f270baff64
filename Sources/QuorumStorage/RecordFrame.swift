import QuorumCodec

/// What a framed record holds. Stored as one byte in the frame header.
///
/// Every log record but the segment header belongs to one consensus group: its payload starts with the group
/// (`GroupRecordPrefix`), and applies to that group's log only.
enum RecordType: UInt8, CaseIterable {
    /// First record of every WAL segment: magic, format version, segment sequence number.
    case segmentHeader = 1
    /// One log entry of a group. An entry at index i replaces any of the group's stored entries at or after i
    /// (that is how a conflicting suffix is truncated: no separate truncate record is needed).
    case entry = 2
    /// A group's hard state; the newest one wins. Every live group's is also written at the start of every
    /// segment, so that releasing segments never removes the only copy.
    case hardState = 3
    /// A snapshot from the leader replaced the group's whole log: entries before it are gone, the log restarts
    /// after it.
    case snapshotReset = 4
    /// A whole snapshot (the content of a snapshot file).
    case snapshot = 5
    /// The group was destroyed on this node: its log is gone and it must not come back by accident. Written
    /// again at the start of every segment, like hard states, so that it outlives the segments it was in.
    case groupTombstone = 6
    /// A destroyed group was deliberately created again; its log starts empty.
    case groupRevival = 7
    /// A group's whole live log, replacing what came before it (see `GroupCheckpoint`).
    case groupCheckpoint = 8
    /// A snapshot from the leader covers the group's entries through it; the entries after it stay (a Multi-Paxos
    /// acceptor never forgets a value it accepted).
    case snapshotResetKeepingLaterEntries = 9
}

/// The framing of every record on disk:
///
///     offset 0  payload length u32 (little-endian)
///     offset 4  type u8
///     offset 5  three reserved bytes, zero
///     offset 8  CRC-32C u32 of bytes 0..<8 followed by the payload
///     offset 12 payload
///
/// The checksum covers the length and type too, so a flipped length is caught, not followed.
enum RecordFrame {
    static let headerBytes = 12

    /// Appends one framed record whose payload `encodePayload` writes.
    static func append(_ type: RecordType, to writer: inout ByteWriter, encodePayload: (inout ByteWriter) -> Void) {
        let start = writer.bytes.count
        writer.write(UInt32(0))
        writer.write(type.rawValue)
        writer.write(contentsOf: [0, 0, 0] as [UInt8])
        writer.write(UInt32(0))
        encodePayload(&writer)
        let payloadBytes = writer.bytes.count - start - headerBytes
        precondition(payloadBytes <= Int(UInt32.max), "record payload larger than 4 GiB")
        writer.overwrite(UInt32(payloadBytes), at: start)
        let checksum = writer.bytes.withUnsafeBytes { raw in
            let header = UnsafeRawBufferPointer(rebasing: raw[start..<start + 8])
            let payload = UnsafeRawBufferPointer(rebasing: raw[(start + headerBytes)...])
            return CRC32C.finish(CRC32C.update(CRC32C.update(CRC32C.start, with: header), with: payload))
        }
        writer.overwrite(checksum, at: start + 8)
    }

    enum Parsed: Equatable {
        /// A whole record whose checksum matches.
        case record(RecordType, payload: Range<Int>, next: Int)
        /// The input ends inside the record (a torn write, if at the very end of a log).
        case incomplete(reason: String)
        /// The bytes at the offset are not a valid record.
        case invalid(reason: String)
    }

    /// Parses the record at `offset` in `bytes[..<end]`. Never traps on any input.
    static func parse(_ bytes: [UInt8], at offset: Int, end: Int, payloadBytesMax: Int) -> Parsed {
        precondition(offset >= 0 && offset <= end && end <= bytes.count, "parse range outside the buffer")
        guard end - offset >= headerBytes else {
            return .incomplete(reason: "\(end - offset) bytes left, a record header needs \(headerBytes)")
        }
        var reader = ByteReader(bytes, range: offset..<end)
        // The reader has at least `headerBytes` left, so these reads cannot fail.
        let length = (try? reader.read(UInt32.self, "length")) ?? 0
        let typeByte = (try? reader.readByte("type")) ?? 0
        let reserved = bytes[offset + 5] | bytes[offset + 6] | bytes[offset + 7]
        let storedChecksum =
            UInt32(bytes[offset + 8]) | UInt32(bytes[offset + 9]) << 8
            | UInt32(bytes[offset + 10]) << 16 | UInt32(bytes[offset + 11]) << 24
        // The cheap checks come before the checksum: recovery probes every byte offset after a bad record for a
        // valid one, and must not checksum megabytes at each.
        guard reserved == 0 else { return .invalid(reason: "reserved header bytes are not zero") }
        guard let type = RecordType(rawValue: typeByte) else {
            return .invalid(reason: "unknown record type \(typeByte)")
        }
        guard Int(length) <= payloadBytesMax else {
            return .invalid(reason: "record length \(length) exceeds the maximum of \(payloadBytesMax) bytes")
        }
        let payloadStart = offset + headerBytes
        guard end - payloadStart >= Int(length) else {
            return .incomplete(reason: "record of \(length) bytes, only \(end - payloadStart) present")
        }
        let payload = payloadStart..<payloadStart + Int(length)
        let checksum = bytes.withUnsafeBytes { raw in
            CRC32C.finish(
                CRC32C.update(
                    CRC32C.update(CRC32C.start, with: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 8])),
                    with: UnsafeRawBufferPointer(rebasing: raw[payload])))
        }
        guard checksum == storedChecksum else {
            return .invalid(reason: "checksum mismatch (stored \(hex(storedChecksum)), computed \(hex(checksum)))")
        }
        return .record(type, payload: payload, next: payload.upperBound)
    }

    private static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16, uppercase: true) }
}
