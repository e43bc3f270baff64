import NIOCore

/// Why bytes were refused as HTTP/1.x. A server answers a refused request with `statusCode` and closes the
/// connection; a proxy treats a refused response as a failed backend.
public enum HTTPFramingError: Error, Hashable, Sendable, CustomStringConvertible {
    case headTooLarge
    case malformedStartLine
    case unsupportedVersion
    case malformedField
    case invalidContentLength
    /// Both Content-Length and Transfer-Encoding: the two could frame the body differently (request smuggling).
    case conflictingFraming
    case unsupportedTransferEncoding
    case malformedChunk
    /// The connection ended inside a message.
    case truncated

    /// The status a server answers a request refused for this reason with.
    public var statusCode: Int {
        switch self {
        case .headTooLarge: 431
        case .unsupportedVersion: 505
        case .unsupportedTransferEncoding: 501
        default: 400
        }
    }

    public var description: String {
        switch self {
        case .headTooLarge: "the head is larger than \(HTTPMessageFramer.headBytesMax) bytes"
        case .malformedStartLine: "malformed start line"
        case .unsupportedVersion: "only HTTP/1.0 and HTTP/1.1 are supported"
        case .malformedField: "malformed field line (or a line not ended by CRLF)"
        case .invalidContentLength: "invalid Content-Length"
        case .conflictingFraming: "both Content-Length and Transfer-Encoding"
        case .unsupportedTransferEncoding: "a Transfer-Encoding other than chunked"
        case .malformedChunk: "malformed chunked body"
        case .truncated: "the connection ended inside a message"
        }
    }
}

/// Cuts HTTP/1.x messages out of a byte stream without rebuilding them: a head (`HTTPMessageHead`), then the body as
/// slices of the bytes it arrived in (chunk sizes, extensions and trailers included), then the end. A proxy forwards
/// those slices as they are; it never re-encodes a body.
///
/// Parsing is strict where leniency lets two parsers disagree on where a message ends: every line ends in CRLF,
/// obsolete line folding, a space before a field's colon, Content-Length beside Transfer-Encoding, differing
/// Content-Lengths and codings other than a final `chunked` are refused. Every line is bounded before it is buffered.
public struct HTTPMessageFramer: Sendable {
    public enum Role: Sendable { case request, response }

    public enum Event: Sendable {
        case head(HTTPMessageHead)
        /// Body bytes as they came, framing included.
        case body(ByteBuffer)
        case end
    }

    /// A head, or the trailer section of a chunked body, may be at most this long.
    public static let headBytesMax = 64 << 10
    /// A chunk-size line, extensions included.
    public static let chunkLineBytesMax = 4 << 10

    private enum State: Sendable {
        /// Looking for the empty line that ends a head; `scanned` bytes are known not to hold it.
        case head(scanned: Int)
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        /// Field lines after the last chunk, up to an empty line; `bytes` so far.
        case trailers(bytes: Int)
        case untilClose
        /// The body is complete; `.end` comes next.
        case complete
    }

    public let role: Role
    private var state = State.head(scanned: 0)
    /// The next response answers a HEAD request, so it has no body whatever its head says. The one sending
    /// requests sets it before each response is read.
    public var respondingToHEAD = false

    public init(role: Role) { self.role = role }

    /// Between messages, with nothing of the next one seen: a connection here may be reused or closed cleanly.
    public var isIdle: Bool {
        if case .head(scanned: 0) = state { true } else { false }
    }

    /// The next event from `buffer`, consuming the bytes it covers; nil when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTPFramingError) -> Event? {
        switch state {
        case .head(let scanned):
            return try nextHead(&buffer, scanned: scanned)
        case .fixed(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let length = min(remaining, buffer.readableBytes)
            state = length == remaining ? .complete : .fixed(remaining: remaining - length)
            return .body(buffer.readSlice(length: length)!)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .complete:
            state = .head(scanned: 0)
            return .end
        case .chunkSize, .chunkData, .chunkDataEnd, .trailers:
            let consumed = try buffer.withUnsafeReadableBytes { raw throws(HTTPFramingError) in try walkChunks(raw) }
            guard consumed > 0 else { return nil }
            return .body(buffer.readSlice(length: consumed)!)
        }
    }

    /// The connection ended with `unread` bytes not yet framed: the end of a body that runs until close, nothing at
    /// a clean boundary, or `.truncated`.
    public mutating func finish(unread: Int) throws(HTTPFramingError) -> Event? {
        switch state {
        case .untilClose where unread == 0:
            state = .head(scanned: 0)
            return .end
        case .complete:
            state = .head(scanned: 0)
            return .end
        case .head(scanned: 0) where unread == 0:
            return nil
        default:
            throw .truncated
        }
    }

    // MARK: Heads

    private mutating func nextHead(_ buffer: inout ByteBuffer, scanned: Int) throws(HTTPFramingError) -> Event? {
        if role == .request && scanned == 0 {
            // RFC 9112, 2.2: a server ignores empty lines before a request (some clients send CRLF after a body).
            while buffer.readableBytesView.starts(with: [UInt8(ascii: "\r"), UInt8(ascii: "\n")]) {
                buffer.moveReaderIndex(forwardBy: 2)
            }
            // Such a line's CR may come without its LF yet: wait for it rather than scan a head from it.
            if buffer.readableBytes == 1 && buffer.readableBytesView.first == UInt8(ascii: "\r") { return nil }
        }
        let found = try buffer.withUnsafeReadableBytes { raw throws(HTTPFramingError) in
            try Self.endOfHead(in: raw, from: scanned)
        }
        guard let end = found else {
            state = .head(scanned: buffer.readableBytes)
            return nil
        }
        let head = try parseHead(buffer.readSlice(length: end)!)
        state =
            switch head.framing {
            case .none: .complete
            case .length(let length): length == 0 ? .complete : .fixed(remaining: length)
            case .chunked: .chunkSize
            case .untilClose: .untilClose
            }
        return .head(head)
    }

    /// The length of the head (through its empty line) if `raw` holds all of it; checks line endings on the way.
    private static func endOfHead(in raw: UnsafeRawBufferPointer, from scanned: Int) throws(HTTPFramingError) -> Int? {
        let limit = min(raw.count, headBytesMax)
        var index = scanned
        while index < limit {
            if raw[index] == UInt8(ascii: "\n") {
                guard index > 0, raw[index - 1] == UInt8(ascii: "\r") else { throw .malformedField }
                if index >= 3 && raw[index - 2] == UInt8(ascii: "\n") { return index + 1 }
                if index == 1 { throw .malformedStartLine }
            }
            index += 1
        }
        if raw.count >= headBytesMax { throw .headTooLarge }
        return nil
    }

    private func parseHead(_ bytes: ByteBuffer) throws(HTTPFramingError) -> HTTPMessageHead {
        try bytes.withUnsafeReadableBytes { raw throws(HTTPFramingError) in
            var lines = LineCursor(raw: raw)
            let startLine = lines.next()!
            var fields: [HTTPMessageHead.Field] = []
            while let line = lines.next(), !line.isEmpty {
                fields.append(try Self.parseField(raw, line: line))
            }
            if role == .request {
                let (method, minor) = try Self.parseRequestLine(raw, startLine)
                let framing = try Self.requestFraming(raw, fields)
                return HTTPMessageHead(
                    bytes: bytes, startLine: startLine, fields: fields, minorVersion: minor, method: method,
                    statusCode: 0, keepAlive: Self.keepAlive(raw, fields, minorVersion: minor), framing: framing)
            }
            let (status, minor) = try Self.parseStatusLine(raw, startLine)
            let framing = try responseFraming(raw, fields, status: status)
            return HTTPMessageHead(
                bytes: bytes, startLine: startLine, fields: fields, minorVersion: minor, method: 0..<0,
                statusCode: status,
                keepAlive: framing != .untilClose && Self.keepAlive(raw, fields, minorVersion: minor),
                framing: framing)
        }
    }

    /// The lines of a head whose every line is known to end in CRLF; each without its CRLF.
    private struct LineCursor {
        let raw: UnsafeRawBufferPointer
        var offset = 0

        mutating func next() -> Range<Int>? {
            guard offset < raw.count else { return nil }
            var end = offset
            while raw[end] != UInt8(ascii: "\r") || raw[end + 1] != UInt8(ascii: "\n") { end += 1 }
            defer { offset = end + 2 }
            return offset..<end
        }
    }

    /// `method SP target SP HTTP/1.x`.
    private static func parseRequestLine(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>)
        throws(HTTPFramingError) -> (method: Range<Int>, minorVersion: Int)
    {
        var index = line.lowerBound
        while index < line.upperBound && isTokenByte(raw[index]) { index += 1 }
        let method = line.lowerBound..<index
        guard !method.isEmpty, index < line.upperBound, raw[index] == UInt8(ascii: " ") else {
            throw .malformedStartLine
        }
        index += 1
        let targetStart = index
        while index < line.upperBound && raw[index] > 0x20 && raw[index] < 0x7F { index += 1 }
        guard index > targetStart, index < line.upperBound, raw[index] == UInt8(ascii: " ") else {
            throw .malformedStartLine
        }
        return (method, try parseVersion(raw, index + 1..<line.upperBound))
    }

    /// `HTTP/1.x SP 3DIGIT [SP reason]`.
    private static func parseStatusLine(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>)
        throws(HTTPFramingError) -> (status: Int, minorVersion: Int)
    {
        guard line.count >= 12, raw[line.lowerBound + 8] == UInt8(ascii: " ") else { throw .malformedStartLine }
        let minor = try parseVersion(raw, line.lowerBound..<line.lowerBound + 8)
        var status = 0
        for index in line.lowerBound + 9..<line.lowerBound + 12 {
            guard let digit = decimalDigit(raw[index]) else { throw .malformedStartLine }
            status = status * 10 + digit
        }
        let rest = line.lowerBound + 12..<line.upperBound
        guard status >= 100, rest.isEmpty || raw[rest.lowerBound] == UInt8(ascii: " "),
            raw[rest].allSatisfy({ !isControl($0) })
        else { throw .malformedStartLine }
        return (status, minor)
    }

    /// Exactly `HTTP/1.0` or `HTTP/1.1`; another well-formed version is unsupported, anything else malformed.
    private static func parseVersion(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) throws(HTTPFramingError) -> Int
    {
        let version = raw[range]
        guard version.count == 8, version.starts(with: "HTTP/".utf8),
            let major = decimalDigit(raw[range.lowerBound + 5]),
            raw[range.lowerBound + 6] == UInt8(ascii: "."), let minor = decimalDigit(raw[range.lowerBound + 7])
        else { throw .malformedStartLine }
        guard major == 1, minor <= 1 else { throw .unsupportedVersion }
        return minor
    }

    /// `name: value`, the name a token right before the colon, the value without control characters.
    private static func parseField(_ raw: UnsafeRawBufferPointer, line: Range<Int>) throws(HTTPFramingError)
        -> HTTPMessageHead.Field
    {
        var index = line.lowerBound
        while index < line.upperBound && isTokenByte(raw[index]) { index += 1 }
        guard index > line.lowerBound, index < line.upperBound, raw[index] == UInt8(ascii: ":") else {
            throw .malformedField
        }
        let name = line.lowerBound..<index
        var valueStart = index + 1
        var valueEnd = line.upperBound
        while valueStart < valueEnd && HTTPMessageHead.isWhitespace(raw[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart && HTTPMessageHead.isWhitespace(raw[valueEnd - 1]) { valueEnd -= 1 }
        guard raw[valueStart..<valueEnd].allSatisfy({ !isControl($0) }) else { throw .malformedField }
        return HTTPMessageHead.Field(
            name: name, value: valueStart..<valueEnd, line: line.lowerBound..<line.upperBound + 2)
    }

    private static func requestFraming(_ raw: UnsafeRawBufferPointer, _ fields: [HTTPMessageHead.Field])
        throws(HTTPFramingError) -> HTTPBodyFraming
    {
        let length = try contentLength(raw, fields)
        guard let chunked = try transferEncodingIsChunked(raw, fields) else {
            return length.map { .length($0) } ?? .none
        }
        guard length == nil else { throw .conflictingFraming }
        // A request's length must be known to the server: a coding it cannot undo leaves it unframed.
        guard chunked else { throw .unsupportedTransferEncoding }
        return .chunked
    }

    private func responseFraming(_ raw: UnsafeRawBufferPointer, _ fields: [HTTPMessageHead.Field], status: Int)
        throws(HTTPFramingError) -> HTTPBodyFraming
    {
        if respondingToHEAD || status < 200 || status == 204 || status == 304 { return .none }
        let length = try Self.contentLength(raw, fields)
        guard let chunked = try Self.transferEncodingIsChunked(raw, fields) else {
            return length.map { .length($0) } ?? .untilClose
        }
        guard length == nil else { throw .conflictingFraming }
        return chunked ? .chunked : .untilClose
    }

    /// The Content-Length, if there is one; several fields or list elements must all agree (RFC 9110, 8.6).
    private static func contentLength(_ raw: UnsafeRawBufferPointer, _ fields: [HTTPMessageHead.Field])
        throws(HTTPFramingError) -> Int?
    {
        var length: Int?
        for field in fields where HTTPMessageHead.equalIgnoringCase(raw[field.name], "content-length".utf8) {
            let elements = HTTPMessageHead.tokens(raw[field.value])
            guard !elements.isEmpty else { throw .invalidContentLength }
            for element in elements {
                guard element.count <= 18 else { throw .invalidContentLength }
                var value = 0
                for byte in element {
                    guard let digit = decimalDigit(byte) else { throw .invalidContentLength }
                    value = value * 10 + digit
                }
                guard length == nil || length == value else { throw .invalidContentLength }
                length = value
            }
        }
        return length
    }

    /// Nil without Transfer-Encoding; otherwise whether `chunked` is the last coding and appears only there.
    private static func transferEncodingIsChunked(_ raw: UnsafeRawBufferPointer, _ fields: [HTTPMessageHead.Field])
        throws(HTTPFramingError) -> Bool?
    {
        var codings: [Slice<UnsafeRawBufferPointer>] = []
        for field in fields where HTTPMessageHead.equalIgnoringCase(raw[field.name], "transfer-encoding".utf8) {
            codings += HTTPMessageHead.tokens(raw[field.value])
        }
        guard !codings.isEmpty else {
            if fields.contains(where: { HTTPMessageHead.equalIgnoringCase(raw[$0.name], "transfer-encoding".utf8) }) {
                throw .unsupportedTransferEncoding
            }
            return nil
        }
        let chunkedAt = codings.indices.filter { HTTPMessageHead.equalIgnoringCase(codings[$0], "chunked".utf8) }
        if chunkedAt.isEmpty { return false }
        guard chunkedAt == [codings.count - 1] else { throw .unsupportedTransferEncoding }
        return true
    }

    /// RFC 9112, 9.3: `close` ends the connection; otherwise HTTP/1.1 persists and HTTP/1.0 only with `keep-alive`.
    private static func keepAlive(_ raw: UnsafeRawBufferPointer, _ fields: [HTTPMessageHead.Field], minorVersion: Int)
        -> Bool
    {
        var keepAliveAsked = false
        for field in fields where HTTPMessageHead.equalIgnoringCase(raw[field.name], "connection".utf8) {
            for token in HTTPMessageHead.tokens(raw[field.value]) {
                if HTTPMessageHead.equalIgnoringCase(token, "close".utf8) { return false }
                if HTTPMessageHead.equalIgnoringCase(token, "keep-alive".utf8) { keepAliveAsked = true }
            }
        }
        return minorVersion == 1 || keepAliveAsked
    }

    // MARK: Chunked bodies

    /// Walks chunk framing through `raw` as far as it is complete, advancing `state`; returns how many bytes it
    /// covered, all of which go on as one body slice.
    private mutating func walkChunks(_ raw: UnsafeRawBufferPointer) throws(HTTPFramingError) -> Int {
        var offset = 0
        while true {
            switch state {
            case .chunkSize:
                guard let newline = try Self.lineEnd(in: raw, from: offset, limit: Self.chunkLineBytesMax) else {
                    return offset
                }
                let size = try Self.chunkSize(raw[offset..<newline - 1])
                offset = newline + 1
                state = size == 0 ? .trailers(bytes: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let length = min(remaining, raw.count - offset)
                guard length > 0 else { return offset }
                offset += length
                state = length == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - length)
            case .chunkDataEnd:
                guard raw.count - offset >= 2 else { return offset }
                guard raw[offset] == UInt8(ascii: "\r"), raw[offset + 1] == UInt8(ascii: "\n") else {
                    throw .malformedChunk
                }
                offset += 2
                state = .chunkSize
            case .trailers(let bytes):
                guard let newline = try Self.lineEnd(in: raw, from: offset, limit: Self.headBytesMax - bytes) else {
                    return offset
                }
                let line = offset..<newline - 1
                if !line.isEmpty { _ = try Self.parseField(raw, line: line) }
                state = line.isEmpty ? .complete : .trailers(bytes: bytes + newline + 1 - offset)
                offset = newline + 1
            default:
                return offset
            }
        }
    }

    /// The index of the LF ending the CRLF-terminated line at `start`; nil if it has not all arrived, an error if it
    /// is longer than `limit` or not ended by CRLF.
    private static func lineEnd(in raw: UnsafeRawBufferPointer, from start: Int, limit: Int)
        throws(HTTPFramingError) -> Int?
    {
        let end = min(raw.count, start + limit)
        var index = start
        while index < end {
            if raw[index] == UInt8(ascii: "\n") {
                guard index > start, raw[index - 1] == UInt8(ascii: "\r") else { throw .malformedChunk }
                return index
            }
            index += 1
        }
        if raw.count - start >= limit { throw .malformedChunk }
        return nil
    }

    /// `HEX [; extensions]`: at most 15 hex digits, so the size fits an Int.
    private static func chunkSize(_ line: Slice<UnsafeRawBufferPointer>) throws(HTTPFramingError) -> Int {
        var size = 0
        var digits = 0
        var index = line.startIndex
        while index < line.endIndex, let digit = hexDigitValue(line[index]) {
            size = size << 4 | Int(digit)
            digits += 1
            index += 1
        }
        guard digits > 0, digits <= 15 else { throw .malformedChunk }
        let rest = line[index...].drop(while: HTTPMessageHead.isWhitespace)
        guard rest.isEmpty || rest.first == UInt8(ascii: ";"), rest.allSatisfy({ !isControl($0) }) else {
            throw .malformedChunk
        }
        return size
    }

    // MARK: Bytes

    /// RFC 9110, 5.6.2: `!#$%&'*+-.^_`|~`, digits and letters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// Control characters other than horizontal tab, which values may hold.
    static func isControl(_ byte: UInt8) -> Bool { (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F }

    static func decimalDigit(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }
}
