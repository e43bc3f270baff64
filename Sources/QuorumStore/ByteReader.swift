/// Reads what `ByteWriter` wrote. Every read checks bounds first and throws on short or oversized input, so a
/// decoder built on it never traps and never allocates more than the input's own size.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func readByte() throws(StoreError) -> UInt8 {
        guard remaining >= 1 else { throw .malformed("input ends early at byte \(offset)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readUInt32() throws(StoreError) -> UInt32 {
        guard remaining >= 4 else { throw .malformed("input ends early at byte \(offset)") }
        var value: UInt32 = 0
        for shift in 0..<4 { value |= UInt32(bytes[offset + shift]) << (8 * shift) }
        offset += 4
        return value
    }

    mutating func readUInt64() throws(StoreError) -> UInt64 {
        guard remaining >= 8 else { throw .malformed("input ends early at byte \(offset)") }
        var value: UInt64 = 0
        for shift in 0..<8 { value |= UInt64(bytes[offset + shift]) << (8 * shift) }
        offset += 8
        return value
    }

    mutating func readBool() throws(StoreError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        case let other: throw .malformed("byte \(offset - 1) is \(other), expected a boolean 0 or 1")
        }
    }

    /// A length-prefixed byte string of at most `limit` bytes; the length is checked before copying.
    mutating func readBytes(limit: Int, what: String) throws(StoreError) -> [UInt8] {
        let length = Int(try readUInt32())
        if length > limit { throw .malformed("\(what) is \(length) bytes, over the limit of \(limit)") }
        guard length <= remaining else { throw .malformed("\(what) of \(length) bytes runs past the input") }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    /// A count of elements that each take at least `minimumBytes`, checked against what is left so that a
    /// forged count cannot make the caller reserve memory the input could never fill.
    mutating func readCount(minimumBytes: Int, what: String) throws(StoreError) -> Int {
        let count = Int(try readUInt32())
        guard count <= remaining / max(minimumBytes, 1) else {
            throw .malformed("\(count) \(what) cannot fit in the \(remaining) bytes left")
        }
        return count
    }

    mutating func readRevision() throws(StoreError) -> Revision { Revision(try readUInt64()) }

    mutating func readLease() throws(StoreError) -> LeaseID? {
        let raw = try readUInt64()
        return raw == 0 ? nil : LeaseID(raw)
    }

    /// A non-negative count that must fit an Int (limits, counts in responses).
    mutating func readInt() throws(StoreError) -> Int {
        let raw = try readUInt64()
        guard let value = Int(exactly: raw) else { throw .malformed("integer \(raw) is too large") }
        return value
    }

    func expectEnd() throws(StoreError) {
        if remaining != 0 { throw .malformed("\(remaining) unexpected bytes after the end") }
    }
}
