/// A hash, set, sorted set or list as the port stores it: one store value under its key, so that every command on
/// it is a read-modify-write of one key in a `RedisWorkingSet` (atomic, retried on conflict, in MULTI/EXEC, with the
/// key's TTL and slot like any string's).
///
/// Strings are stored as their plain bytes, as before, so the KV API still reads them unchanged. A typed value starts
/// with the marker `00 C1 51` ("\0", a byte that never occurs in UTF-8, "Q"), then one byte naming its kind, then the
/// number of its elements and each element, every number a 32-bit big-endian length. The port refuses to store a
/// string that starts with the marker, so a value is told apart by its first bytes alone. Everything is validated on
/// the way in: a value with the marker that does not decode is reported as corrupt, never trusted.
struct RedisTypedValue: Equatable {
    enum Kind: UInt8, CaseIterable {
        case hash = 0x68  // h
        case list = 0x6C  // l
        case set = 0x73  // s
        case sortedSet = 0x7A  // z

        /// TYPE's answer.
        var name: String {
            switch self {
            case .hash: "hash"
            case .list: "list"
            case .set: "set"
            case .sortedSet: "zset"
            }
        }
    }

    static let marker: [UInt8] = [0x00, 0xC1, 0x51]
    /// The marker, the kind, the element count.
    static let headerBytes = marker.count + 1 + 4

    var kind: Kind
    /// A hash's fields and values alternate; a sorted set's members and 8-byte scores alternate.
    var elements: [[UInt8]]

    static func isTyped(_ bytes: [UInt8]) -> Bool { bytes.starts(with: marker) }

    /// TYPE's answer judged from the first bytes alone (SCAN TYPE): nil for a typed value of an unknown kind.
    static func typeName(of bytes: [UInt8]) -> String? {
        guard isTyped(bytes) else { return "string" }
        return bytes.count > marker.count ? Kind(rawValue: bytes[marker.count])?.name : nil
    }

    /// Decodes a stored value that starts with the marker; every length is checked against what is left.
    init(decoding bytes: [UInt8]) throws(RedisTypedValueError) {
        guard bytes.count >= Self.headerBytes, Self.isTyped(bytes) else { throw .truncated }
        guard let kind = Kind(rawValue: bytes[Self.marker.count]) else { throw .unknownKind(bytes[Self.marker.count]) }
        var offset = Self.marker.count + 1
        func readLength() throws(RedisTypedValueError) -> Int {
            guard bytes.count - offset >= 4 else { throw .truncated }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            return length
        }
        let count = try readLength()
        // The port deletes a collection when its last element goes: an empty one was never written by it.
        guard count > 0 else { throw .invalid("an empty collection") }
        // Every element takes at least its 4-byte length: a count beyond that is a lie, refused before allocating.
        guard count <= (bytes.count - offset) / 4 else { throw .truncated }
        var elements: [[UInt8]] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            let length = try readLength()
            guard length <= bytes.count - offset else { throw .truncated }
            elements.append(Array(bytes[offset..<offset + length]))
            offset += length
        }
        guard offset == bytes.count else { throw .trailingBytes }
        self.kind = kind
        self.elements = elements
    }

    init(kind: Kind, elements: [[UInt8]]) {
        self.kind = kind
        self.elements = elements
    }

    /// The size of `encoded`, without building it.
    var encodedCount: Int { Self.headerBytes + elements.reduce(0) { $0 + 4 + $1.count } }

    var encoded: [UInt8] {
        var bytes = Self.marker + [kind.rawValue]
        bytes.reserveCapacity(encodedCount)
        func append(_ length: Int) {
            let value = UInt32(length)
            bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        append(elements.count)
        for element in elements {
            append(element.count)
            bytes += element
        }
        return bytes
    }
}

/// Why a stored value with the typed-value marker could not be read.
enum RedisTypedValueError: Error, Equatable, CustomStringConvertible {
    case truncated
    case trailingBytes
    case unknownKind(UInt8)
    /// The elements decoded but do not make a valid value of the kind (odd pair count, duplicate member, NaN score).
    case invalid(String)

    var description: String {
        switch self {
        case .truncated: "a length runs past the end of the value"
        case .trailingBytes: "bytes follow the last element"
        case .unknownKind(let byte): "unknown kind byte \(byte)"
        case .invalid(let reason): reason
        }
    }
}
