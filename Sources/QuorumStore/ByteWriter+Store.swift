import QuorumCodec
import QuorumSharding

/// The store's vocabulary on top of the shared writer: booleans, length-prefixed byte strings, and the store's
/// quantities.
extension ByteWriter {
    mutating func write(_ value: Bool) { write(UInt8(value ? 1 : 0)) }

    /// A u32 length, then the bytes.
    mutating func writeBytes(_ value: [UInt8]) {
        write(UInt32(value.count))
        write(contentsOf: value)
    }

    mutating func writeCount(_ count: Int) { write(UInt32(count)) }
    mutating func write(_ revision: Revision) { write(revision.rawValue) }
    /// Zero stands for "no lease", which is why lease id 0 is reserved.
    mutating func write(_ lease: LeaseID?) { write(lease?.rawValue ?? 0) }

    /// `1 first:u16 last:u16` for hash slots, `2 start hasEnd:u8 [end]` for a span of keys.
    mutating func write(_ keys: KeySelector) {
        switch keys {
        case .slots(let slots):
            write(1 as UInt8)
            write(UInt16(truncatingIfNeeded: slots.lowerBound))
            write(UInt16(truncatingIfNeeded: slots.upperBound))
        case .span(let span):
            write(2 as UInt8)
            writeBytes(span.start)
            write(span.end != nil)
            if let end = span.end { writeBytes(end) }
        }
    }

    mutating func write(_ keys: [MovedKey]) {
        writeCount(keys.count)
        for moved in keys {
            writeBytes(moved.key)
            writeBytes(moved.value)
            write(moved.lease?.id)
            if let lease = moved.lease {
                write(lease.ttl.milliseconds)
                write(lease.deadline.milliseconds)
            }
        }
    }
}
