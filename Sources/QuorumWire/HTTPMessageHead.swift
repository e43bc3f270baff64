import NIOCore

/// How the body of an HTTP/1.x message is delimited (RFC 9112, 6.3).
public enum HTTPBodyFraming: Hashable, Sendable {
    /// No body: a request without Content-Length or Transfer-Encoding, a response to HEAD, 1xx, 204 or 304.
    case none
    case length(Int)
    case chunked
    /// A response without a length, which ends when its connection does.
    case untilClose
}

/// The head of one HTTP/1.x message, kept as the bytes it arrived in with the offsets of its parts, so that a proxy
/// can forward it, or forward it with a few fields changed, without building header objects.
public struct HTTPMessageHead: Sendable {
    /// One field line: `name: value`.
    public struct Field: Sendable {
        /// The name's bytes, as offsets into `bytes`.
        public let name: Range<Int>
        /// The value's bytes without surrounding whitespace.
        public let value: Range<Int>
        /// The whole line, CRLF included: what a forwarder copies.
        public let line: Range<Int>
    }

    /// The head as it arrived: start line, field lines and the empty line that ends it. Offsets are from index 0.
    public let bytes: ByteBuffer
    /// The start line without its CRLF.
    public let startLine: Range<Int>
    public let fields: [Field]
    /// 0 or 1: only HTTP/1.0 and HTTP/1.1 are framed here.
    public let minorVersion: Int
    /// A request's method; empty for a response.
    public let method: Range<Int>
    /// A response's status code; 0 for a request.
    public let statusCode: Int
    /// Whether the connection may carry another message after this one (RFC 9112, 9.3).
    public let keepAlive: Bool
    public let framing: HTTPBodyFraming

    /// Whether the request's method is `name` (methods are case-sensitive).
    public func isMethod(_ name: String) -> Bool {
        bytes.withUnsafeReadableBytes { raw in raw[method].elementsEqual(name.utf8) }
    }

    /// Whether `field` is named `name`, ignoring case (field names are case-insensitive).
    public func field(_ field: Field, isNamed name: String) -> Bool {
        bytes.withUnsafeReadableBytes { raw in Self.equalIgnoringCase(raw[field.name], name.utf8) }
    }

    /// The values of every field named `name` (ignoring case), in order.
    public func values(named name: String) -> [String] {
        fields.filter { self.field($0, isNamed: name) }.map { string(at: $0.value) }
    }

    public func string(at range: Range<Int>) -> String {
        bytes.withUnsafeReadableBytes { raw in String(decoding: raw[range], as: UTF8.self) }
    }

    /// Whether `field` is hop-by-hop (RFC 9110, 7.6.1): one of the connection-specific fields, or named by a
    /// Connection field of this head. Transfer-Encoding, Content-Length and Host never are, even when a Connection
    /// field names them: a forwarder passes the body through in the framing it came in, and a request forwarded
    /// without its length would have its body read as the next request.
    public func isHopByHop(_ field: Field) -> Bool {
        bytes.withUnsafeReadableBytes { raw in
            let name = raw[field.name]
            for kept in Self.alwaysForwardedNames where Self.equalIgnoringCase(name, kept) { return false }
            for hopByHop in Self.hopByHopNames where Self.equalIgnoringCase(name, hopByHop) { return true }
            for connection in fields where Self.equalIgnoringCase(raw[connection.name], "connection".utf8) {
                if Self.tokens(raw[connection.value]).contains(where: { Self.equalIgnoringCase(name, $0) }) {
                    return true
                }
            }
            return false
        }
    }

    private static let alwaysForwardedNames = ["content-length", "transfer-encoding", "host"].map { Array($0.utf8) }
    private static let hopByHopNames = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"]
        .map { Array($0.utf8) }

    /// The comma-separated elements of a list value, without whitespace; empty elements are skipped.
    static func tokens(_ value: Slice<UnsafeRawBufferPointer>) -> [Slice<UnsafeRawBufferPointer>] {
        value.split(separator: UInt8(ascii: ",")).compactMap { element in
            guard let first = element.firstIndex(where: { !isWhitespace($0) }),
                let last = element.lastIndex(where: { !isWhitespace($0) })
            else { return nil }
            return value.base[first...last]
        }
    }

    /// ASCII letters compared without case; both sides may be in any case.
    static func equalIgnoringCase(_ some: some Collection<UInt8>, _ other: some Collection<UInt8>) -> Bool {
        some.count == other.count && zip(some, other).allSatisfy { lowercased($0) == lowercased($1) }
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
}
