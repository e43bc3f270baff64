import QuorumCodec
import QuorumConsensus
import QuorumSharding

/// Reads what the store's codecs wrote, on top of the shared bounds-checked reader, reporting failures as
/// `StoreError.malformed` so that a decoder built on it never traps and never allocates more than its input.
struct StoreReader {
    private var reader: ByteReader

    init(_ bytes: [UInt8]) { reader = ByteReader(bytes) }

    var remaining: Int { reader.remaining }
    var offset: Int { reader.position }

    mutating func readByte() throws(StoreError) -> UInt8 {
        do { return try reader.readByte("byte") } catch { throw malformed(error) }
    }

    mutating func readUInt16() throws(StoreError) -> UInt16 {
        do { return try reader.read(UInt16.self, "u16") } catch { throw malformed(error) }
    }

    mutating func readUInt32() throws(StoreError) -> UInt32 {
        do { return try reader.read(UInt32.self, "u32") } catch { throw malformed(error) }
    }

    mutating func readUInt64() throws(StoreError) -> UInt64 {
        do { return try reader.read(UInt64.self, "u64") } catch { throw malformed(error) }
    }

    mutating func readBool() throws(StoreError) -> Bool {
        do { return try reader.readBool("boolean") } catch { throw malformed(error) }
    }

    /// A length-prefixed byte string of at most `limit` bytes; the length is checked before copying.
    mutating func readBytes(limit: Int, what: String) throws(StoreError) -> [UInt8] {
        let length = try readUInt32()
        if length > limit { throw .malformed("\(what) is \(length) bytes, over the limit of \(limit)") }
        do { return try reader.readBytes(count: UInt64(length), what) } catch { throw malformed(error) }
    }

    /// A count of elements that each take at least `minimumBytes`, checked against what is left so that a
    /// forged count cannot make the caller reserve memory the input could never fill.
    mutating func readCount(minimumBytes: Int, what: String) throws(StoreError) -> Int {
        do { return try reader.readCount(what, minimumItemBytes: minimumBytes) } catch { throw malformed(error) }
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

    /// What `ByteWriter.write(_: KeySelector)` wrote: hash slots (first <= last < 16,384), or a non-empty span.
    mutating func readKeySelector(_ limits: StoreLimits) throws(StoreError) -> KeySelector {
        switch try readByte() {
        case 1:
            let first = Int(try readUInt16())
            let last = Int(try readUInt16())
            guard first <= last, last < HashSlot.count else {
                throw .malformed("slot range \(first)-\(last) is empty or outside 0-\(HashSlot.count - 1)")
            }
            return .slots(first...last)
        case 2:
            let start = try readBytes(limit: limits.keyBytesMax, what: "span start")
            let end = try readBool() ? try readBytes(limit: limits.keyBytesMax, what: "span end") : nil
            guard let span = KeySpan(start: start, end: end) else { throw .malformed("an empty span of keys") }
            return .span(span)
        case let other:
            throw .malformed("unknown kind of keys \(other)")
        }
    }

    /// A group id; 0 names no group.
    mutating func readGroup() throws(StoreError) -> GroupID {
        let raw = try readUInt64()
        if raw == 0 { throw .malformed("group 0 does not exist") }
        return GroupID(raw)
    }

    func expectEnd() throws(StoreError) {
        do { try reader.expectEnd(of: "the encoding") } catch { throw malformed(error) }
    }

    private func malformed(_ failure: DecodingFailure) -> StoreError {
        .malformed("\(failure) (at byte \(reader.position))")
    }
}
