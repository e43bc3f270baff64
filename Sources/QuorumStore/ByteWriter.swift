/// Appends little-endian fixed-width integers and length-prefixed byte strings.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func write(_ value: UInt8) { bytes.append(value) }

    mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// A u32 length, then the bytes.
    mutating func writeBytes(_ value: [UInt8]) {
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func writeCount(_ count: Int) { write(UInt32(count)) }
    mutating func write(_ revision: Revision) { write(revision.rawValue) }
    /// Zero stands for "no lease", which is why lease id 0 is reserved.
    mutating func write(_ lease: LeaseID?) { write(lease?.rawValue ?? 0) }
}
