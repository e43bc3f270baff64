import NIOCore

/// One value of the Redis serialization protocol (RESP2, and the RESP3 types the port and its clients need).
/// The same type serves both directions: a command is an array of bulk strings, a reply is any value.
public enum RESPValue: Hashable, Sendable {
    case simpleString(String)
    /// The text after '-', e.g. "ERR unknown command": its first word is the error code clients match on.
    case error(String)
    case integer(Int64)
    case bulkString([UInt8])
    case array([RESPValue])
    /// RESP2 `$-1` (and `*-1`, which decodes to this too) on the wire; RESP3 `_`.
    case null
    /// RESP3 `,`; a bulk string in RESP2, as Redis sends it.
    case double(Double)
    /// RESP3 `#`; the integer 1 or 0 in RESP2.
    case boolean(Bool)
    /// RESP3 `%`, in the order written (a Redis reply's field order is part of what clients show); a flat array of
    /// key, value, key, value in RESP2.
    case map([MapEntry])
    /// RESP3 `~`; an array in RESP2.
    case set([RESPValue])
    /// RESP3 `(`, kept as its decimal digits; a bulk string in RESP2.
    case bigNumber(String)
    /// RESP3 `=`: a three-letter format ("txt", "mkd") and the text; a bulk string of the text in RESP2.
    case verbatimString(format: String, text: [UInt8])
    /// RESP3 `>`: out-of-band data (pub/sub messages, invalidations); an array in RESP2.
    case push([RESPValue])

    public struct MapEntry: Hashable, Sendable {
        public var key: RESPValue
        public var value: RESPValue
        public init(_ key: RESPValue, _ value: RESPValue) {
            self.key = key
            self.value = value
        }
    }
}

extension RESPValue {
    /// A command as clients send it: an array of bulk strings.
    public static func command(_ parts: [String]) -> RESPValue {
        .array(parts.map { .bulkString(Array($0.utf8)) })
    }

    /// A command whose arguments are raw bytes (binary keys and values).
    public static func command(_ parts: [[UInt8]]) -> RESPValue {
        .array(parts.map { .bulkString($0) })
    }

    /// A bulk string of the UTF-8 of `text`.
    public static func bulkString(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    /// The bytes of a bulk, simple or verbatim string; nil for other values.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .simpleString(let text): Array(text.utf8)
        case .verbatimString(_, let text): text
        default: nil
        }
    }

    /// The same as `bytes`, decoded as UTF-8 (invalid sequences replaced).
    public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// Writes the value in RESP2 unless `protocolVersion` is 3. RESP3-only types are written as RESP2 writes them
    /// (Redis's own downgrade), so a reply can be built once and sent on either kind of connection.
    public func write(to buffer: inout ByteBuffer, protocolVersion: Int = 2) {
        let resp3 = protocolVersion >= 3
        switch self {
        case .simpleString(let text):
            Self.writeLine(prefix: "+", text, to: &buffer)
        case .error(let text):
            Self.writeLine(prefix: "-", text, to: &buffer)
        case .integer(let value):
            Self.writeLine(prefix: ":", String(value), to: &buffer)
        case .bulkString(let bytes):
            Self.writeBulk(bytes, to: &buffer)
        case .array(let elements):
            Self.writeAggregate(prefix: "*", elements, to: &buffer, protocolVersion: protocolVersion)
        case .null:
            buffer.writeStaticString(resp3 ? "_\r\n" : "$-1\r\n")
        case .double(let value):
            let text = Self.format(value)
            if resp3 {
                Self.writeLine(prefix: ",", text, to: &buffer)
            } else {
                Self.writeBulk(Array(text.utf8), to: &buffer)
            }
        case .boolean(let value):
            if resp3 {
                buffer.writeStaticString(value ? "#t\r\n" : "#f\r\n")
            } else {
                buffer.writeStaticString(value ? ":1\r\n" : ":0\r\n")
            }
        case .map(let entries):
            if resp3 {
                Self.writeLine(prefix: "%", String(entries.count), to: &buffer)
            } else {
                Self.writeLine(prefix: "*", String(entries.count * 2), to: &buffer)
            }
            for entry in entries {
                entry.key.write(to: &buffer, protocolVersion: protocolVersion)
                entry.value.write(to: &buffer, protocolVersion: protocolVersion)
            }
        case .set(let elements):
            Self.writeAggregate(prefix: resp3 ? "~" : "*", elements, to: &buffer, protocolVersion: protocolVersion)
        case .bigNumber(let digits):
            if resp3 {
                Self.writeLine(prefix: "(", digits, to: &buffer)
            } else {
                Self.writeBulk(Array(digits.utf8), to: &buffer)
            }
        case .verbatimString(let format, let text):
            if resp3 {
                let body = Array(format.utf8.prefix(3)) + Array(":".utf8) + text
                Self.writeLine(prefix: "=", String(body.count), to: &buffer)
                buffer.writeBytes(body)
                buffer.writeStaticString("\r\n")
            } else {
                Self.writeBulk(text, to: &buffer)
            }
        case .push(let elements):
            Self.writeAggregate(prefix: resp3 ? ">" : "*", elements, to: &buffer, protocolVersion: protocolVersion)
        }
    }

    /// The wire form as bytes; for tests and small replies.
    public func encoded(protocolVersion: Int = 2) -> [UInt8] {
        var buffer = ByteBuffer()
        write(to: &buffer, protocolVersion: protocolVersion)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// Redis writes doubles as the shortest text that reads back the same, and "inf", "-inf", "nan".
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return value.description
    }

    private static func writeLine(prefix: StaticString, _ text: String, to buffer: inout ByteBuffer) {
        buffer.writeStaticString(prefix)
        // A CR or LF inside a simple string or error would end the line early and desynchronise the reader.
        if text.utf8.contains(where: { $0 == 13 || $0 == 10 }) {
            buffer.writeBytes(text.utf8.map { $0 == 13 || $0 == 10 ? UInt8(ascii: " ") : $0 })
        } else {
            buffer.writeString(text)
        }
        buffer.writeStaticString("\r\n")
    }

    private static func writeBulk(_ bytes: [UInt8], to buffer: inout ByteBuffer) {
        writeLine(prefix: "$", String(bytes.count), to: &buffer)
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
    }

    private static func writeAggregate(
        prefix: StaticString, _ elements: [RESPValue], to buffer: inout ByteBuffer, protocolVersion: Int
    ) {
        writeLine(prefix: prefix, String(elements.count), to: &buffer)
        for element in elements { element.write(to: &buffer, protocolVersion: protocolVersion) }
    }
}
