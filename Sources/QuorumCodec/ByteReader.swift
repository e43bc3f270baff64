/// Why bytes did not decode. Each format wraps it in its own error with context (a file and offset, a
/// connection).
public enum DecodingFailure: Error, Hashable, Sendable, CustomStringConvertible {
    case truncated(field: String)
    case invalid(field: String, value: UInt64)
    case unsupportedVersion(what: String, version: UInt8)
    case trailingBytes(what: String, count: Int)
    case inconsistent(String)

    public var description: String {
        switch self {
        case .truncated(let field): "input ends inside \(field)"
        case .invalid(let field, let value): "invalid \(field) \(value)"
        case .unsupportedVersion(let what, let version): "\(what) encoding version \(version) is not supported"
        case .trailingBytes(let what, let count): "\(count) unexpected bytes after \(what)"
        case .inconsistent(let reason): reason
        }
    }
}

/// Reads little-endian integers and byte runs from a buffer, checking every length against what is left
/// before allocating anything: input from a disk or a peer never traps and never makes us allocate more than it
/// contains.
public struct ByteReader: Sendable {
    private let bytes: [UInt8]
    public private(set) var position: Int
    public let end: Int

    public init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        let range = range ?? 0..<bytes.count
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "reader range outside the buffer")
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    public var remaining: Int { end - position }

    public mutating func readByte(_ field: String) throws(DecodingFailure) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(field: field) }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func read<Integer: FixedWidthInteger & UnsignedInteger>(
        _: Integer.Type, _ field: String
    ) throws(DecodingFailure) -> Integer {
        try readLittleEndian(field)
    }

    // The widths every format uses, as plain functions: a generic called from another module runs unspecialised,
    // through witness tables, and these are on the path of every record and message decoded.
    public mutating func read(_: UInt16.Type, _ field: String) throws(DecodingFailure) -> UInt16 {
        try readLittleEndian(field)
    }

    public mutating func read(_: UInt32.Type, _ field: String) throws(DecodingFailure) -> UInt32 {
        try readLittleEndian(field)
    }

    public mutating func read(_: UInt64.Type, _ field: String) throws(DecodingFailure) -> UInt64 {
        try readLittleEndian(field)
    }

    @inline(__always)
    private mutating func readLittleEndian<Integer: FixedWidthInteger>(_ field: String) throws(DecodingFailure)
        -> Integer
    {
        let size = MemoryLayout<Integer>.size
        guard remaining >= size else { throw .truncated(field: field) }
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: Integer.self) }
        position += size
        return Integer(littleEndian: value)
    }

    /// Reads `count` bytes; `count` comes from the input, so it is checked against what is left first.
    public mutating func readBytes(count: UInt64, _ field: String) throws(DecodingFailure) -> [UInt8] {
        guard count <= UInt64(remaining) else { throw .truncated(field: field) }
        let count = Int(count)
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    /// Reads an element count for items of at least `minimumItemBytes` each, refusing counts the remaining
    /// input cannot hold.
    public mutating func readCount(_ field: String, minimumItemBytes: Int) throws(DecodingFailure) -> Int {
        let count = try read(UInt32.self, field)
        guard UInt64(count) * UInt64(max(minimumItemBytes, 1)) <= UInt64(remaining) else {
            throw .truncated(field: field)
        }
        return Int(count)
    }

    public mutating func readBool(_ field: String) throws(DecodingFailure) -> Bool {
        switch try readByte(field) {
        case 0: return false
        case 1: return true
        case let other: throw .invalid(field: field, value: UInt64(other))
        }
    }

    public func expectEnd(of what: String) throws(DecodingFailure) {
        guard remaining == 0 else { throw .trailingBytes(what: what, count: remaining) }
    }
}
