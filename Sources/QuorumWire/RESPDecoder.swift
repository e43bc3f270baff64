import NIOCore

/// Why bytes were refused as RESP. A server answers `-ERR Protocol error: <reason>` and closes the connection, as
/// Redis does; a client closes its connection.
public struct RESPProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Redis's own wording where it has one ("invalid bulk length"), so that tools matching on it keep working.
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "Protocol error: \(reason)" }
}

/// Cuts RESP2/RESP3 values out of a byte stream, and inline commands (a plain line such as `PING\r\n`, as telnet
/// sends) as arrays of bulk strings. Every length is checked against its limit before anything is buffered for
/// it, so a hostile length costs nothing; a value is only returned once it is complete, so every prefix of a
/// valid message is "need more data" and never an error.
public struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    /// Bulk strings longer than this are refused (a server passes its request size limit).
    public let bulkBytesMax: Int
    /// Arrays, maps and sets with more elements than this are refused.
    public let elementsMax: Int
    /// Redis's limit on an inline command line, and here on any line.
    public static let lineBytesMax = 64 << 10
    /// Aggregates nest at most this deep: the parser recurses, and replies never nest more than a few levels.
    public static let depthMax = 128

    public init(bulkBytesMax: Int = 512 << 20, elementsMax: Int = 1 << 20) {
        self.bulkBytesMax = max(0, bulkBytesMax)
        self.elementsMax = max(0, elementsMax)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        while true {
            let outcome = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(RESPProtocolError) in try parseStep(bytes) }
            }
            switch try outcome.get() {
            case nil:
                return nil
            case .blankLine(let consumed):
                buffer.moveReaderIndex(forwardBy: consumed)
            case .value(let value, let consumed):
                buffer.moveReaderIndex(forwardBy: consumed)
                return value
            }
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decode(buffer: &buffer)
    }

    /// Decodes the first value of `bytes` (skipping blank inline lines before it), or nil if it is incomplete.
    public func decode(_ bytes: [UInt8]) throws(RESPProtocolError) -> (value: RESPValue, consumed: Int)? {
        var skipped = 0
        while true {
            let outcome = bytes.withUnsafeBytes { raw in
                Result { () throws(RESPProtocolError) in
                    try parseStep(UnsafeRawBufferPointer(rebasing: raw[skipped...]))
                }
            }
            switch try outcome.get() {
            case nil: return nil
            case .blankLine(let consumed): skipped += consumed
            case .value(let value, let consumed): return (value, skipped + consumed)
            }
        }
    }

    enum Step {
        case value(RESPValue, consumed: Int)
        /// An empty inline line, which Redis ignores.
        case blankLine(consumed: Int)
    }

    func parseStep(_ bytes: UnsafeRawBufferPointer) throws(RESPProtocolError) -> Step? {
        guard let first = bytes.first else { return nil }
        if Self.typeBytes.contains(first) {
            var parser = Parser(bytes: bytes, limits: self)
            guard let value = try parser.value(depth: 0) else { return nil }
            return .value(value, consumed: parser.offset)
        }
        guard
            let newline = try Parser.find(
                UInt8(ascii: "\n"), in: bytes, from: 0, limit: Self.lineBytesMax, what: "too big inline request")
        else { return nil }
        var end = newline
        if end > 0, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let arguments = try Self.splitInline(UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
        guard arguments.count <= elementsMax else { throw RESPProtocolError("invalid multibulk length") }
        if arguments.isEmpty { return .blankLine(consumed: newline + 1) }
        return .value(.array(arguments.map { .bulkString($0) }), consumed: newline + 1)
    }

    /// The first bytes of the RESP2 and RESP3 types; any other first byte starts an inline command.
    static let typeBytes: Set<UInt8> = Set("+-:$*_,#%~(=!>".utf8)

    /// A cursor over one message; `value` advances `offset` past a complete value or returns nil.
    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        let limits: RESPDecoder
        var offset = 0

        init(bytes: UnsafeRawBufferPointer, limits: RESPDecoder) {
            self.bytes = bytes
            self.limits = limits
        }

        /// The index of the first `byte` at or after `start`; nil if absent so far, an error if it is not within
        /// `limit` bytes (so a line that never ends is refused instead of buffered forever).
        static func find(_ byte: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int, limit: Int, what: String)
            throws(RESPProtocolError) -> Int?
        {
            let end = min(bytes.count, start + limit + 1)
            var index = start
            while index < end {
                if bytes[index] == byte { return index }
                index += 1
            }
            if bytes.count - start > limit { throw RESPProtocolError(what) }
            return nil
        }

        /// The line after the type byte at `offset`, without its CRLF; advances past the CRLF.
        mutating func line(limit: Int, what: String) throws(RESPProtocolError) -> UnsafeRawBufferPointer? {
            let start = offset + 1
            guard let newline = try Self.find(UInt8(ascii: "\n"), in: bytes, from: start, limit: limit + 1, what: what)
            else { return nil }
            // A lone CR inside the line is refused too: no valid writer sends one, and it could not be re-sent.
            guard newline > start, bytes[newline - 1] == UInt8(ascii: "\r"),
                !bytes[start..<(newline - 1)].contains(UInt8(ascii: "\r"))
            else { throw RESPProtocolError("expected CRLF at the end of a line") }
            offset = newline + 1
            return UnsafeRawBufferPointer(rebasing: bytes[start..<(newline - 1)])
        }

        mutating func value(depth: Int) throws(RESPProtocolError) -> RESPValue? {
            guard offset < bytes.count else { return nil }
            let type = bytes[offset]
            switch type {
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                guard let text = try line(limit: RESPDecoder.lineBytesMax, what: "too big line") else { return nil }
                let string = String(decoding: text, as: UTF8.self)
                return type == UInt8(ascii: "+") ? .simpleString(string) : .error(string)
            case UInt8(ascii: ":"):
                guard let text = try line(limit: 32, what: "too big integer") else { return nil }
                guard let integer = Self.integer(text) else { throw RESPProtocolError("invalid integer") }
                return .integer(integer)
            case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
                guard let blob = try blob(nullable: type == UInt8(ascii: "$")) else { return nil }
                guard let bytes = blob else { return .null }
                switch type {
                case UInt8(ascii: "$"): return .bulkString(bytes)
                case UInt8(ascii: "!"): return .error(String(decoding: bytes, as: UTF8.self))
                default:
                    guard bytes.count >= 4, bytes[3] == UInt8(ascii: ":") else {
                        throw RESPProtocolError("invalid verbatim string")
                    }
                    return .verbatimString(
                        format: String(decoding: bytes[0..<3], as: UTF8.self), text: Array(bytes[4...]))
                }
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"):
                return try aggregate(type: type, depth: depth)
            case UInt8(ascii: "_"):
                guard let text = try line(limit: 0, what: "invalid null") else { return nil }
                guard text.isEmpty else { throw RESPProtocolError("invalid null") }
                return .null
            case UInt8(ascii: ","):
                guard let text = try line(limit: 512, what: "too big double") else { return nil }
                guard let double = Self.double(text) else { throw RESPProtocolError("invalid double") }
                return .double(double)
            case UInt8(ascii: "#"):
                guard let text = try line(limit: 1, what: "invalid boolean") else { return nil }
                guard text.count == 1, text[0] == UInt8(ascii: "t") || text[0] == UInt8(ascii: "f") else {
                    throw RESPProtocolError("invalid boolean")
                }
                return .boolean(text[0] == UInt8(ascii: "t"))
            case UInt8(ascii: "("):
                guard let text = try line(limit: 4096, what: "too big number") else { return nil }
                let digits =
                    text.first == UInt8(ascii: "-") || text.first == UInt8(ascii: "+") ? text.dropFirst() : text[...]
                guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    throw RESPProtocolError("invalid big number")
                }
                return .bigNumber(String(decoding: text, as: UTF8.self))
            default:
                // Inside an aggregate only typed values may appear; Redis says the same of a command's arguments.
                throw RESPProtocolError("expected '$', got '\(Self.printable(type))'")
            }
        }

        /// A length-prefixed blob: `.some(nil)` for a RESP2 null, `.some(bytes)`, or nil when incomplete.
        private mutating func blob(nullable: Bool) throws(RESPProtocolError) -> [UInt8]?? {
            guard let text = try line(limit: 32, what: "invalid bulk length") else { return nil }
            guard let length = Self.integer(text) else { throw RESPProtocolError("invalid bulk length") }
            if nullable, length == -1 { return .some(nil) }
            guard length >= 0, length <= limits.bulkBytesMax else { throw RESPProtocolError("invalid bulk length") }
            let count = Int(length)
            guard bytes.count - offset >= count + 2 else { return nil }
            guard bytes[offset + count] == UInt8(ascii: "\r"), bytes[offset + count + 1] == UInt8(ascii: "\n") else {
                throw RESPProtocolError("expected CRLF after a bulk string")
            }
            let blob = Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
            offset += count + 2
            return .some(blob)
        }

        private mutating func aggregate(type: UInt8, depth: Int) throws(RESPProtocolError) -> RESPValue? {
            guard let text = try line(limit: 32, what: "too big mbulk count string") else { return nil }
            guard let count = Self.integer(text) else { throw RESPProtocolError("invalid multibulk length") }
            if type == UInt8(ascii: "*"), count == -1 { return .null }
            guard count >= 0, count <= limits.elementsMax else { throw RESPProtocolError("invalid multibulk length") }
            guard depth < RESPDecoder.depthMax else { throw RESPProtocolError("values nested too deep") }
            let elementCount = Int(count) * (type == UInt8(ascii: "%") ? 2 : 1)
            var elements: [RESPValue] = []
            // Capacity is reserved for what the bytes at hand can hold, not for what the header claims.
            elements.reserveCapacity(min(elementCount, (bytes.count - offset) / 3))
            for _ in 0..<elementCount {
                guard let element = try value(depth: depth + 1) else { return nil }
                elements.append(element)
            }
            switch type {
            case UInt8(ascii: "~"): return .set(elements)
            case UInt8(ascii: ">"): return .push(elements)
            case UInt8(ascii: "%"):
                return .map(stride(from: 0, to: elements.count, by: 2).map { .init(elements[$0], elements[$0 + 1]) })
            default: return .array(elements)
            }
        }

        /// A decimal Int64 with an optional '-', or nil (also on overflow).
        static func integer(_ text: UnsafeRawBufferPointer) -> Int64? {
            guard !text.isEmpty else { return nil }
            let negative = text[0] == UInt8(ascii: "-")
            let digits = negative ? UnsafeRawBufferPointer(rebasing: text[1...]) : text
            guard !digits.isEmpty else { return nil }
            var magnitude: UInt64 = 0
            for digit in digits {
                guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { return nil }
                magnitude = sum
            }
            if negative {
                guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
                return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
            }
            guard magnitude <= UInt64(Int64.max) else { return nil }
            return Int64(magnitude)
        }

        static func double(_ text: UnsafeRawBufferPointer) -> Double? {
            let string = String(decoding: text, as: UTF8.self)
            switch string {
            case "inf", "+inf": return .infinity
            case "-inf": return -.infinity
            case "nan", "-nan": return .nan
            default:
                // Swift's parser also takes hex floats and "infinity"; RESP doubles are plain decimals.
                guard !string.isEmpty, string.utf8.allSatisfy({ Self.decimalBytes.contains($0) }) else { return nil }
                return Double(string)
            }
        }

        static let decimalBytes: Set<UInt8> = Set("0123456789+-.eE".utf8)

        static func printable(_ byte: UInt8) -> String {
            byte >= 0x20 && byte < 0x7f ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
        }
    }
}

extension RESPDecoder {
    /// Splits an inline command line into arguments as Redis does (`sdssplitargs`): whitespace separates them;
    /// "double quotes" take \n, \r, \t, \b, \a and \xHH escapes; 'single quotes' take \'. A closing quote must
    /// be followed by whitespace or the end of the line.
    static func splitInline(_ line: UnsafeRawBufferPointer) throws(RESPProtocolError) -> [[UInt8]] {
        let unbalanced = RESPProtocolError("unbalanced quotes in request")
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0d) }
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var arguments: [[UInt8]] = []
        var index = 0
        let count = line.count
        while true {
            while index < count, isSpace(line[index]) { index += 1 }
            guard index < count else { return arguments }
            var argument: [UInt8] = []
            var quote: UInt8?
            argumentLoop: while true {
                guard index < count else {
                    if quote != nil { throw unbalanced }
                    break argumentLoop
                }
                let byte = line[index]
                switch quote {
                case UInt8(ascii: "\""):
                    if byte == UInt8(ascii: "\\"), index + 3 < count, line[index + 1] == UInt8(ascii: "x"),
                        let high = hexValue(line[index + 2]), let low = hexValue(line[index + 3])
                    {
                        argument.append(high << 4 | low)
                        index += 4
                    } else if byte == UInt8(ascii: "\\"), index + 1 < count {
                        let escaped = line[index + 1]
                        switch escaped {
                        case UInt8(ascii: "n"): argument.append(0x0a)
                        case UInt8(ascii: "r"): argument.append(0x0d)
                        case UInt8(ascii: "t"): argument.append(0x09)
                        case UInt8(ascii: "b"): argument.append(0x08)
                        case UInt8(ascii: "a"): argument.append(0x07)
                        default: argument.append(escaped)
                        }
                        index += 2
                    } else if byte == UInt8(ascii: "\"") {
                        guard index + 1 == count || isSpace(line[index + 1]) else { throw unbalanced }
                        index += 1
                        break argumentLoop
                    } else {
                        argument.append(byte)
                        index += 1
                    }
                case UInt8(ascii: "'"):
                    if byte == UInt8(ascii: "\\"), index + 1 < count, line[index + 1] == UInt8(ascii: "'") {
                        argument.append(UInt8(ascii: "'"))
                        index += 2
                    } else if byte == UInt8(ascii: "'") {
                        guard index + 1 == count || isSpace(line[index + 1]) else { throw unbalanced }
                        index += 1
                        break argumentLoop
                    } else {
                        argument.append(byte)
                        index += 1
                    }
                default:
                    if isSpace(byte) { break argumentLoop }
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                        quote = byte
                    } else {
                        argument.append(byte)
                    }
                    index += 1
                }
            }
            arguments.append(argument)
        }
    }
}
