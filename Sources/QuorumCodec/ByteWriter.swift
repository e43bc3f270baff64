/// Appends little-endian integers and raw bytes to a growing buffer: the one encoder under every Quorum format
/// (log records, snapshots, wire frames, store commands).
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: UInt8) { bytes.append(value) }

    /// Inlinable: a generic called from another module would run unspecialised, and this is on the path of every
    /// record and message encoded.
    @inlinable
    public mutating func write<Integer: FixedWidthInteger & UnsignedInteger>(_ value: Integer) {
        var littleEndian = value.littleEndian
        withUnsafeBytes(of: &littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(contentsOf raw: some Collection<UInt8>) { bytes.append(contentsOf: raw) }

    /// Overwrites four bytes at `offset` (used to fill in a length or checksum after the fact).
    public mutating func overwrite(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= bytes.count, "overwrite outside the buffer")
        for shift in 0..<4 { bytes[offset + shift] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(shift))) }
    }
}
