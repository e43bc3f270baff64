import NIOCore
import Testing

@testable import QuorumWire

@Suite("HTTP message framer")
struct HTTPMessageFramerTests {
    typealias Role = HTTPMessageFramer.Role

    // MARK: Framing helper

    /// A head as plain values, so that heads framed from differently split input compare equal.
    struct Head: Equatable, CustomStringConvertible {
        struct Field: Equatable {
            var name: String
            var value: String
            /// The whole line, CRLF included.
            var line: String
        }

        var bytes: [UInt8]
        var startLine = ""
        var method = ""
        var fields: [Field] = []
        var minorVersion = -1
        var statusCode = -1
        var keepAlive = false
        var framing = HTTPBodyFraming.none

        var description: String { "\(startLine.debugDescription) \(framing) keepAlive: \(keepAlive)" }
    }

    /// What a framer gave, with consecutive body events merged (their split depends on how the bytes arrived).
    enum Framed: Equatable {
        case head(Head)
        case body([UInt8])
        case end
    }

    /// One message as framed: its head, its body bytes (framing included) and whether its end came.
    struct Message: Equatable {
        var head: Head
        var body: [UInt8] = []
        var ended = false
    }

    struct Outcome {
        var events: [Framed] = []
        var error: HTTPFramingError?
        /// How many input bytes the framer consumed.
        var consumed = 0

        var messages: [Message] {
            var messages: [Message] = []
            for event in events {
                switch event {
                case .head(let head): messages.append(Message(head: head))
                case .body(let bytes) where !messages.isEmpty: messages[messages.count - 1].body += bytes
                case .end where !messages.isEmpty: messages[messages.count - 1].ended = true
                default: break
                }
            }
            return messages
        }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Feeds `input` to a new framer in pieces cut at `cuts`, draining events after each piece, then (if `finish`)
    /// ends the connection. On the way it checks, for every event, what must hold whatever the input: a head comes
    /// first, bodies and an end follow it; every head and body is exactly the next input bytes (a request may skip
    /// CRLFs before its head, nothing else is skipped); a body is never empty; a message's body matches its framing;
    /// `isIdle` holds exactly after an end.
    static func frame(
        _ input: [UInt8], as role: Role = .request, cuts: [Int] = [], respondingToHEAD: Bool = false,
        finish: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Outcome {
        var framer = HTTPMessageFramer(role: role)
        framer.respondingToHEAD = respondingToHEAD
        var checker = Checker(input: input, role: role, sourceLocation: sourceLocation)
        var buffer = ByteBuffer()
        var written = 0
        var outcome = Outcome()
        let bounds = Set(cuts.filter { $0 > 0 && $0 < input.count }).sorted() + [input.count]
        do throws(HTTPFramingError) {
            pieces: for bound in bounds {
                buffer.writeBytes(input[written..<bound])
                written = bound
                while let event = try framer.next(&buffer) {
                    checker.take(event, consumed: written - buffer.readableBytes, idle: framer.isIdle, into: &outcome)
                    // Every head and body consumes input, and an end follows a head: more events than this is a loop.
                    if outcome.events.count > 2 * input.count + 2 {
                        Issue.record("the framer keeps giving events", sourceLocation: sourceLocation)
                        break pieces
                    }
                }
            }
            checker.checkSkipped(upTo: written - buffer.readableBytes)
            if finish, let event = try framer.finish(unread: buffer.readableBytes) {
                checker.take(
                    event, consumed: written - buffer.readableBytes, idle: framer.isIdle, finished: true, into: &outcome
                )
            }
        } catch {
            outcome.error = error
        }
        outcome.consumed = written - buffer.readableBytes
        return outcome
    }

    private struct Checker {
        let input: [UInt8]
        let role: Role
        let sourceLocation: SourceLocation
        /// Input bytes accounted for by events so far.
        var position = 0
        var current: HTTPMessageHead?
        var body: [UInt8] = []

        func check(_ condition: Bool, _ comment: @autoclosure () -> String) {
            if !condition { Issue.record(Comment(rawValue: comment()), sourceLocation: sourceLocation) }
        }

        /// The input bytes from `position` to `end`, or nil (and an issue) if that is not a range of the input.
        func pending(to end: Int) -> ArraySlice<UInt8>? {
            guard position <= end, end <= input.count else {
                check(false, "an event covers bytes \(position)..<\(end) of \(input.count)")
                return nil
            }
            return input[position..<end]
        }

        /// Bytes consumed without an event: only CRLFs before a request.
        func checkSkipped(upTo end: Int) {
            guard let skipped = pending(to: end) else { return }
            let crlfs =
                skipped.count % 2 == 0
                && stride(from: skipped.startIndex, to: skipped.endIndex, by: 2).allSatisfy {
                    skipped[$0] == UInt8(ascii: "\r") && skipped[$0 + 1] == UInt8(ascii: "\n")
                }
            check(skipped.isEmpty || (role == .request && crlfs), "skipped \(Array(skipped)) outside any message")
        }

        mutating func take(
            _ event: HTTPMessageFramer.Event, consumed: Int, idle: Bool, finished: Bool = false,
            into outcome: inout Outcome
        ) {
            switch event {
            case .head(let head):
                let bytes = Array(head.bytes.readableBytesView)
                check(current == nil, "a head inside a message")
                check(!finished, "a head from finish")
                check(!idle, "idle right after a head")
                checkSkipped(upTo: consumed - bytes.count)
                check(
                    input[max(0, consumed - bytes.count)..<consumed].elementsEqual(bytes), "a head not from the input")
                position = consumed
                current = head
                body = []
                outcome.events.append(.head(summary(head)))
            case .body(let slice):
                let bytes = Array(slice.readableBytesView)
                check(current != nil, "a body outside a message")
                check(!bytes.isEmpty, "an empty body event")
                check(!finished, "a body from finish")
                check(pending(to: consumed)?.elementsEqual(bytes) == true, "a body that is not the next input bytes")
                position = consumed
                body += bytes
                if case .body(let earlier) = outcome.events.last {
                    outcome.events[outcome.events.count - 1] = .body(earlier + bytes)
                } else {
                    outcome.events.append(.body(bytes))
                }
            case .end:
                check(idle, "not idle after an end")
                check(consumed == position, "an end that consumed bytes")
                guard let head = current else {
                    check(false, "an end outside a message")
                    return
                }
                switch head.framing {
                case .none: check(body.isEmpty, "a body in a message framed without one")
                case .length(let length): check(body.count == length, "\(body.count) body bytes for length \(length)")
                case .chunked: check(body.count >= 5 && body.suffix(4).elementsEqual("\r\n\r\n".utf8), "chunked end")
                case .untilClose: break
                }
                check(finished == (head.framing == .untilClose), "an end \(finished ? "from" : "before") finish")
                current = nil
                outcome.events.append(.end)
            }
        }

        /// The head as plain values, after checking that its offsets describe its bytes: a start line, contiguous
        /// field lines each `name:` then a value within the line, and the empty line last.
        func summary(_ head: HTTPMessageHead) -> Head {
            let bytes = Array(head.bytes.readableBytesView)
            var summary = Head(bytes: bytes)
            let crlf = Array("\r\n".utf8)
            func isLine(_ range: Range<Int>) -> Bool {
                range.lowerBound >= 0 && range.upperBound <= bytes.count && range.count >= 2
                    && bytes[range.suffix(2)].elementsEqual(crlf)
            }
            var lineStart = head.startLine.upperBound + 2
            var valid = head.bytes.readerIndex == 0 && head.startLine.lowerBound == 0 && isLine(0..<lineStart)
            for field in head.fields where valid {
                valid =
                    field.line.lowerBound == lineStart && isLine(field.line)
                    && field.name.lowerBound == lineStart && !field.name.isEmpty
                    && field.name.upperBound < field.line.upperBound
                    && bytes[field.name.upperBound] == UInt8(ascii: ":")
                    && field.value.lowerBound > field.name.upperBound
                    && field.value.upperBound <= field.line.upperBound - 2
                    && field.value.lowerBound <= field.value.upperBound
                lineStart = field.line.upperBound
            }
            valid = valid && lineStart + 2 == bytes.count && isLine(lineStart..<bytes.count)
            valid =
                valid
                && (head.statusCode == 0
                    ? head.method.lowerBound == 0 && head.method.upperBound < head.startLine.upperBound
                    : head.method.isEmpty && (100...999).contains(head.statusCode))
            check(valid, "inconsistent offsets in the head \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            guard valid else { return summary }
            summary.startLine = head.string(at: head.startLine)
            summary.method = head.string(at: head.method)
            summary.fields = head.fields.map {
                Head.Field(
                    name: head.string(at: $0.name), value: head.string(at: $0.value), line: head.string(at: $0.line))
            }
            summary.minorVersion = head.minorVersion
            summary.statusCode = head.statusCode
            summary.keepAlive = head.keepAlive
            summary.framing = head.framing
            return summary
        }
    }

    struct NoHead: Error {}

    /// The head framed from `text`, which must begin with a complete one.
    static func head(_ text: String, as role: Role = .request) throws -> HTTPMessageHead {
        var framer = HTTPMessageFramer(role: role)
        var buffer = ByteBuffer(string: text)
        guard case .head(let head) = try framer.next(&buffer) else { throw NoHead() }
        return head
    }

    /// A framer event as a comparable value, body bytes unmerged.
    static func plain(_ event: HTTPMessageFramer.Event?) -> Framed? {
        switch event {
        case .head(let head)?: .head(Head(bytes: Array(head.bytes.readableBytesView)))
        case .body(let bytes)?: .body(Array(bytes.readableBytesView))
        case .end?: .end
        case nil: nil
        }
    }

    // MARK: Samples

    struct Sample: Sendable, CustomTestStringConvertible {
        let name: String
        let role: Role
        let text: String
        var respondingToHEAD = false
        /// One message, with a length: every strict prefix of it is truncated.
        var oneBoundedMessage = true

        var bytes: [UInt8] { Array(text.utf8) }
        var testDescription: String { name }
    }

    static let chunkedRequestHead = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    static let chunkedRequestBody =
        "5;name=value\r\nhello\r\n" + "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
        + "0;last\r\nExpires: never\r\nX-Sum: 1\r\n\r\n"

    /// Valid input, each framed whole without error, with no CRLF before a request.
    static let samples: [Sample] = [
        Sample(
            name: "GET without a body", role: .request,
            text: "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"),
        Sample(
            name: "POST with Content-Length", role: .request,
            text: "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"),
        Sample(name: "chunked request", role: .request, text: chunkedRequestHead + chunkedRequestBody),
        Sample(
            name: "HTTP/1.0 request whose body looks like line ends", role: .request,
            text: "PUT /x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n\r\n\r"),
        Sample(
            name: "two pipelined requests", role: .request,
            text: "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
            oneBoundedMessage: false),
        Sample(
            name: "request with 15 hex digits of chunk size", role: .request,
            text: "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                + "00000000000000a\r\n0123456789\r\n0\r\n\r\n"),
        Sample(
            name: "response with Content-Length", role: .response,
            text: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"),
        Sample(
            name: "chunked response whose data holds CRLFs", role: .response,
            text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "4\r\n\r\n\r\n\r\nA ; x=\"y\"\r\n0123456789\r\n0\r\n\r\n"),
        Sample(
            name: "response until close", role: .response,
            text: "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nstreamed\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            oneBoundedMessage: false),
        Sample(
            name: "100 Continue then 200", role: .response,
            text: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            oneBoundedMessage: false),
        Sample(
            name: "304 with Content-Length then 200", role: .response,
            text:
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
            oneBoundedMessage: false),
        Sample(
            name: "responses to HEAD", role: .response,
            text: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n",
            respondingToHEAD: true, oneBoundedMessage: false),
    ]

    // MARK: Requests

    @Test("a GET without a body: start line, fields, method and version")
    func getWithoutBody() throws {
        let text = "GET /index.html?q=1 HTTP/1.1\r\nHOST:  example.com \t\r\nAccept: */*\r\nX-Empty:\r\n\r\n"
        let outcome = Self.frame(Self.bytes(text))
        #expect(outcome.error == nil)
        #expect(outcome.messages.count == 1)
        let message = try #require(outcome.messages.first)
        #expect(message.head.bytes == Self.bytes(text))
        #expect(message.head.startLine == "GET /index.html?q=1 HTTP/1.1")
        #expect(message.head.method == "GET")
        #expect(
            message.head.fields == [
                .init(name: "HOST", value: "example.com", line: "HOST:  example.com \t\r\n"),
                .init(name: "Accept", value: "*/*", line: "Accept: */*\r\n"),
                .init(name: "X-Empty", value: "", line: "X-Empty:\r\n"),
            ])
        #expect(message.head.minorVersion == 1)
        #expect(message.head.statusCode == 0)
        #expect(message.head.keepAlive)
        #expect(message.head.framing == .none)
        #expect(message.body.isEmpty)
        #expect(message.ended)

        let head = try Self.head(text)
        #expect(head.isMethod("GET"))
        #expect(!head.isMethod("get"))
        #expect(!head.isMethod("GE"))
        #expect(!head.isMethod("GETS"))
        #expect(head.values(named: "host") == ["example.com"])
        #expect(head.values(named: "x-empty") == [""])
        #expect(head.values(named: "x-missing").isEmpty)
        #expect(head.fields.map { head.field($0, isNamed: "host") } == [true, false, false])
    }

    @Test(
        "keep-alive: HTTP/1.1 unless close, HTTP/1.0 only with keep-alive",
        arguments: [
            ("GET / HTTP/1.1\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nConnection: upgrade\r\nconnection: Close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n", true),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: x, keep-alive \r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", false),
        ])
    func requestKeepAlive(text: String, keepAlive: Bool) throws {
        let head = try Self.head(text)
        #expect(head.keepAlive == keepAlive)
        #expect(head.minorVersion == (text.contains("HTTP/1.0") ? 0 : 1))
    }

    @Test("a Content-Length body is exactly that many bytes, then the end")
    func requestContentLength() throws {
        let head = "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
        let outcome = Self.frame(Self.bytes(head + "hello world"))
        #expect(outcome.error == nil)
        #expect(outcome.messages.count == 1)
        let message = try #require(outcome.messages.first)
        #expect(message.head.bytes == Self.bytes(head))
        #expect(message.head.method == "POST")
        #expect(message.head.framing == .length(11))
        #expect(message.body == Self.bytes("hello world"))
        #expect(message.ended)

        // A shorter body is not the end; Content-Length: 0 is no body at all.
        let short = Self.frame(Self.bytes(head + "hello"), finish: false)
        #expect(short.messages.map(\.ended) == [false])
        #expect(short.messages.first?.body == Self.bytes("hello"))
        let empty = Self.frame(Self.bytes("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), finish: false)
        #expect(empty.events.count == 2)
        #expect(empty.events.last == .end)
        #expect(empty.messages.first?.head.framing == .length(0))
    }

    @Test("a chunked body comes out as its exact bytes, extensions and trailers included, then the end")
    func requestChunked() throws {
        let outcome = Self.frame(Self.bytes(Self.chunkedRequestHead + Self.chunkedRequestBody))
        #expect(outcome.error == nil)
        #expect(outcome.messages.count == 1)
        let message = try #require(outcome.messages.first)
        #expect(message.head.bytes == Self.bytes(Self.chunkedRequestHead))
        #expect(message.head.framing == .chunked)
        #expect(message.body == Self.bytes(Self.chunkedRequestBody))
        #expect(message.ended)
        #expect(outcome.events.count == 3)
        #expect(outcome.events.last == .end)

        // Without the empty line that ends the trailers, the message is not over.
        let unended = Self.frame(Self.bytes(Self.chunkedRequestHead + Self.chunkedRequestBody.dropLast(2)))
        #expect(unended.error == .truncated)
        #expect(unended.messages.map(\.ended) == [false])
    }

    @Test(
        "chunk sizes are hex in either case; Transfer-Encoding is matched in any case; a coding before chunked is fine")
    func chunkSizes() throws {
        let body = "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n1A\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n0\r\n\r\n"
        for encoding in ["chunked", "CHUNKED", "gzip, chunked", "gzip\r\nTransfer-Encoding: chunked"] {
            let head = "POST / HTTP/1.1\r\nTransfer-Encoding: \(encoding)\r\n\r\n"
            let outcome = Self.frame(Self.bytes(head + body + "GET / HTTP/1.1\r\n\r\n"))
            #expect(outcome.error == nil, "\(encoding)")
            #expect(outcome.messages.map(\.body) == [Self.bytes(body), []], "\(encoding)")
            #expect(outcome.messages.map(\.ended) == [true, true], "\(encoding)")
        }
    }

    @Test("two pipelined requests in one buffer are two messages")
    func pipelinedRequests() throws {
        let first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
        let second = "POST /b HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\n"
        let third = "DELETE /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        let outcome = Self.frame(Self.bytes(first + second + "abc" + third + "1\r\nx\r\n0\r\n\r\n"))
        #expect(outcome.error == nil)
        let messages = outcome.messages
        #expect(messages.map(\.head.bytes) == [first, second, third].map(Self.bytes))
        #expect(messages.map(\.head.method) == ["GET", "POST", "DELETE"])
        #expect(messages.map(\.head.keepAlive) == [true, false, true])
        #expect(messages.map(\.body) == [[], Self.bytes("abc"), Self.bytes("1\r\nx\r\n0\r\n\r\n")])
        #expect(messages.map(\.ended) == [true, true, true])

        // A part of a next request left when the connection ends is truncated.
        let partial = Self.frame(Self.bytes(first + "GET /b HT"))
        #expect(partial.error == .truncated)
        #expect(partial.messages.count == 1)
    }

    @Test("empty lines before a request are skipped, not made part of its head")
    func leadingEmptyLines() throws {
        let request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        let outcome = Self.frame(Self.bytes("\r\n\r\n" + request))
        #expect(outcome.error == nil)
        #expect(outcome.messages.map(\.head.bytes) == [Self.bytes(request)])
        #expect(outcome.messages.map(\.ended) == [true])
        // Also between pipelined requests (a client's CRLF after a body), and when the pairs arrive apart.
        let pipelined = Self.bytes("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab\r\n" + request)
        for cuts in [[], [40], [42], [40, 42]] {
            let framed = Self.frame(pipelined, cuts: cuts)
            #expect(framed.error == nil, "cuts \(cuts)")
            #expect(framed.messages.map(\.body) == [Self.bytes("ab"), []], "cuts \(cuts)")
            #expect(framed.messages.last?.head.bytes == Self.bytes(request), "cuts \(cuts)")
        }
        // Only CRLFs bare of anything else are consumed: the framer is idle after them and finish is clean.
        var framer = HTTPMessageFramer(role: .request)
        var buffer = ByteBuffer(string: "\r\n\r\n")
        #expect(Self.plain(try framer.next(&buffer)) == nil)
        #expect(buffer.readableBytes == 0)
        #expect(framer.isIdle)
        #expect(Self.plain(try framer.finish(unread: 0)) == nil)
    }

    @Test("a CRLF before a request is skipped even when its CR and LF arrive in different reads")
    func leadingEmptyLineSplitInside() throws {
        let request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        let leading = Self.bytes("\r\n" + request)
        let afterBody = Self.bytes("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab\r\n" + request)
        let wholeLeading = Self.frame(leading)
        let wholeAfterBody = Self.frame(afterBody)
        #expect(wholeLeading.error == nil)
        #expect(wholeAfterBody.error == nil)
        let splitLeading = Self.frame(leading, cuts: [1])
        #expect(splitLeading.error == nil)
        #expect(splitLeading.events == wholeLeading.events)
        let splitAfterBody = Self.frame(afterBody, cuts: [41])
        #expect(splitAfterBody.error == nil)
        #expect(splitAfterBody.events == wholeAfterBody.events)
    }

    // MARK: Responses

    @Test("a response with Content-Length, keep-alive by version and Connection")
    func responseContentLength() throws {
        let outcome = Self.frame(
            Self.bytes(
                "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
            as: .response)
        #expect(outcome.error == nil)
        let messages = outcome.messages
        #expect(messages.map(\.head.startLine) == ["HTTP/1.1 201 Created", "HTTP/1.0 200 OK"])
        #expect(messages.map(\.head.statusCode) == [201, 200])
        #expect(messages.map(\.head.minorVersion) == [1, 0])
        #expect(messages.map(\.head.method) == ["", ""])
        #expect(messages.map(\.head.framing) == [.length(5), .length(2)])
        #expect(messages.map(\.head.keepAlive) == [true, false])
        #expect(messages.map(\.body) == [Self.bytes("hello"), Self.bytes("hi")])
        #expect(messages.map(\.ended) == [true, true])
    }

    @Test(
        "response keep-alive",
        arguments: [
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
            ("HTTP/1.1 204 No Content\r\n\r\n", true),
            ("HTTP/1.0 304 Not Modified\r\n\r\n", false),
        ])
    func responseKeepAlive(text: String, keepAlive: Bool) throws {
        #expect(try Self.head(text, as: .response).keepAlive == keepAlive)
    }

    @Test("a chunked response: data that looks like framing is data")
    func responseChunked() throws {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        let body = "4\r\n\r\n\r\n\r\nA ; x=\"y\"\r\n0123456789\r\n0\r\n\r\n"
        let outcome = Self.frame(Self.bytes(head + body + "HTTP/1.1 204 No Content\r\n\r\n"), as: .response)
        #expect(outcome.error == nil)
        #expect(outcome.messages.map(\.head.framing) == [.chunked, .none])
        #expect(outcome.messages.map(\.body) == [Self.bytes(body), []])
        #expect(outcome.messages.map(\.ended) == [true, true])
    }

    @Test("a response without a length runs until the connection closes")
    func responseUntilClose() throws {
        let head = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"
        let body = "streamed\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
        let open = Self.frame(Self.bytes(head + body), as: .response, cuts: [40, 50], finish: false)
        #expect(open.error == nil)
        #expect(open.messages.count == 1)
        let message = try #require(open.messages.first)
        #expect(message.head.framing == .untilClose)
        #expect(!message.head.keepAlive)
        #expect(message.body == Self.bytes(body))
        #expect(!message.ended)
        let closed = Self.frame(Self.bytes(head + body), as: .response)
        #expect(closed.error == nil)
        #expect(closed.messages.map(\.ended) == [true])
        #expect(closed.messages.map(\.body) == [Self.bytes(body)])

        // The head alone, then the close: an empty body and the end.
        var framer = HTTPMessageFramer(role: .response)
        var buffer = ByteBuffer(string: head)
        #expect(Self.plain(try framer.next(&buffer)) == .head(Head(bytes: Self.bytes(head))))
        #expect(Self.plain(try framer.next(&buffer)) == nil)
        #expect(!framer.isIdle)
        #expect(Self.plain(try framer.finish(unread: 0)) == .end)
        #expect(framer.isIdle)
        // Bytes left unread at the close mean the caller lost some: truncated.
        var unread = HTTPMessageFramer(role: .response)
        var more = ByteBuffer(string: head)
        _ = try unread.next(&more)
        #expect(throws: HTTPFramingError.truncated) { try unread.finish(unread: 3) }
    }

    @Test("1xx, 204 and 304 responses have no body, whatever their head says")
    func responsesWithoutBody() throws {
        for status in [
            "100 Continue", "101 Switching Protocols", "103 Early Hints", "204 No Content", "304 Not Modified",
        ] {
            for framing in [
                "Content-Length: 7", "Transfer-Encoding: chunked", "Content-Length: 7\r\nTransfer-Encoding: gzip",
            ] {
                let head = "HTTP/1.1 \(status)\r\n\(framing)\r\n\r\n"
                let next = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n1234567"
                let outcome = Self.frame(Self.bytes(head + next), as: .response)
                #expect(outcome.error == nil, "\(status) \(framing)")
                #expect(outcome.messages.map(\.head.framing) == [.none, .length(7)], "\(status) \(framing)")
                #expect(outcome.messages.map(\.body) == [[], Self.bytes("1234567")], "\(status) \(framing)")
                #expect(outcome.messages.map(\.ended) == [true, true], "\(status) \(framing)")
                #expect(outcome.messages.first?.head.keepAlive == true, "\(status) \(framing)")
            }
        }
        // 200 and 205 do have bodies: the no-body rule is not applied to every status.
        for status in [200, 205, 299] {
            let head = try Self.head("HTTP/1.1 \(status) X\r\nContent-Length: 7\r\n\r\n", as: .response)
            #expect(head.framing == .length(7), "\(status)")
        }
    }

    @Test("a response to HEAD has no body even with Content-Length or chunked")
    func responseToHEAD() throws {
        let first = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
        let input = Self.bytes(first + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        let head = Self.frame(input, as: .response, respondingToHEAD: true)
        #expect(head.error == nil)
        #expect(head.messages.map(\.head.framing) == [.none, .none])
        #expect(head.messages.map(\.body) == [[], []])
        #expect(head.messages.map(\.ended) == [true, true])
        #expect(head.messages.map(\.head.keepAlive) == [true, true])
        // The same bytes not answering HEAD: the second head is the first one's body.
        let get = Self.frame(input, as: .response, finish: false)
        #expect(get.messages.count == 1)
        #expect(get.messages.first?.head.framing == .length(1000))
        #expect(get.messages.first?.body == Array(input.dropFirst(first.utf8.count)))
    }

    // MARK: Any split

    @Test("every valid message frames the same split at any offset or byte by byte", arguments: samples)
    func everySplit(sample: Sample) throws {
        let input = sample.bytes
        let whole = Self.frame(input, as: sample.role, respondingToHEAD: sample.respondingToHEAD)
        #expect(whole.error == nil)
        #expect(whole.events.last == .end)
        #expect(whole.consumed == input.count)
        // What comes out, heads and bodies in order, is the input itself.
        let forwarded = whole.messages.flatMap { $0.head.bytes + $0.body }
        #expect(forwarded == input)
        for cut in 1..<input.count {
            let split = Self.frame(input, as: sample.role, cuts: [cut], respondingToHEAD: sample.respondingToHEAD)
            #expect(split.error == nil, "cut at \(cut)")
            #expect(split.events == whole.events, "cut at \(cut)")
        }
        let bytewise = Self.frame(
            input, as: sample.role, cuts: Array(1..<input.count), respondingToHEAD: sample.respondingToHEAD)
        #expect(bytewise.error == nil)
        #expect(bytewise.events == whole.events)
    }

    @Test(
        "every strict prefix of a message needs more data, and ending the connection there is truncation",
        arguments: samples.filter(\.oneBoundedMessage))
    func strictPrefixes(sample: Sample) throws {
        // (Several messages have prefixes that end between them; a body until close ends at any close.)
        let whole = Self.frame(sample.bytes, as: sample.role, respondingToHEAD: sample.respondingToHEAD)
        #expect(whole.messages.count == 1)
        #expect(whole.messages.first?.head.framing != .untilClose)
        for length in 1..<sample.bytes.count {
            let prefix = Array(sample.bytes.prefix(length))
            let open = Self.frame(prefix, as: sample.role, respondingToHEAD: sample.respondingToHEAD, finish: false)
            #expect(open.error == nil, "prefix \(length)")
            #expect(!open.events.contains(.end), "prefix \(length)")
            let closed = Self.frame(prefix, as: sample.role, respondingToHEAD: sample.respondingToHEAD)
            #expect(closed.error == .truncated, "prefix \(length)")
        }
    }

    @Test("a response until close ends at any close after its head, and is truncated inside its head")
    func untilClosePrefixes() throws {
        let head = "HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"
        let input = Self.bytes(head + "some body")
        for length in 1..<input.count {
            let closed = Self.frame(Array(input.prefix(length)), as: .response, cuts: [length / 2])
            if length < head.utf8.count {
                #expect(closed.error == .truncated, "prefix \(length)")
                #expect(closed.events.isEmpty, "prefix \(length)")
            } else {
                #expect(closed.error == nil, "prefix \(length)")
                #expect(closed.messages.map(\.body) == [Array(input[head.utf8.count..<length])], "prefix \(length)")
                #expect(closed.messages.map(\.ended) == [true], "prefix \(length)")
            }
        }
    }

    @Test("idle exactly between messages; finish is clean only there")
    func idleAndFinish() throws {
        var framer = HTTPMessageFramer(role: .request)
        #expect(framer.isIdle)
        #expect(Self.plain(try framer.finish(unread: 0)) == nil)
        #expect(throws: HTTPFramingError.truncated) { try framer.finish(unread: 1) }

        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nContent-")
        #expect(Self.plain(try framer.next(&buffer)) == nil)
        #expect(!framer.isIdle)
        #expect(throws: HTTPFramingError.truncated) { try framer.finish(unread: buffer.readableBytes) }
        buffer.writeString("Length: 2\r\n\r\na")
        #expect(
            Self.plain(try framer.next(&buffer))
                == .head(Head(bytes: Self.bytes("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n"))))
        #expect(Self.plain(try framer.next(&buffer)) == .body(Self.bytes("a")))
        #expect(Self.plain(try framer.next(&buffer)) == nil)
        #expect(!framer.isIdle)
        #expect(throws: HTTPFramingError.truncated) { try framer.finish(unread: 0) }
        buffer.writeString("bGET")
        #expect(Self.plain(try framer.next(&buffer)) == .body(Self.bytes("b")))
        #expect(!framer.isIdle)
        #expect(Self.plain(try framer.next(&buffer)) == .end)
        #expect(framer.isIdle)
        #expect(buffer.readableBytes == 3)
        #expect(Self.plain(try framer.next(&buffer)) == nil)
        #expect(!framer.isIdle)
    }

    // MARK: Refusals

    struct Refusal: Sendable, CustomTestStringConvertible {
        let role: Role
        let text: String
        let error: HTTPFramingError

        init(_ text: String, _ error: HTTPFramingError, as role: Role = .request) {
            (self.text, self.error, self.role) = (text, error, role)
        }

        var testDescription: String { "\(role) \(text.debugDescription) → \(error)" }
    }

    static let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

    static let refusals: [Refusal] = [
        // Every line ends in CRLF: a bare LF anywhere in a head is a malformed field line.
        Refusal("GET / HTTP/1.1\nHost: a\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nHost: a\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nHost: a\r\n\n", .malformedField),
        Refusal("GET / HTTP/1.1\n\n", .malformedField),
        Refusal("HTTP/1.1 200 OK\n\r\n", .malformedField, as: .response),
        Refusal("HTTP/1.1 200 OK\r\nContent-Length: 0\n\n", .malformedField, as: .response),
        // Obsolete line folding.
        Refusal("GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nX-A: b\r\n\tc\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\n Host: a\r\n\r\n", .malformedField),
        // Whitespace before the colon, and other names that are not tokens.
        Refusal("GET / HTTP/1.1\r\nHost : a\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", .malformedField),
        Refusal("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", .malformedField, as: .response),
        Refusal("GET / HTTP/1.1\r\nX(A): b\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\n: empty name\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nno colon\r\n\r\n", .malformedField),
        // Control characters in a value (a tab is fine elsewhere).
        Refusal("GET / HTTP/1.1\r\nX-A: a\u{1}b\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nX-A: a\u{0}b\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nX-A: a\u{7F}\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", .malformedField),
        Refusal("GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n", .malformedField),
        // Two framings.
        Refusal("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", .conflictingFraming),
        Refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", .conflictingFraming),
        Refusal("POST / HTTP/1.1\r\ncontent-length: 0\r\ntransfer-encoding: gzip\r\n\r\n", .conflictingFraming),
        Refusal(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", .conflictingFraming,
            as: .response),
        Refusal(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\n", .conflictingFraming,
            as: .response),
        // Content-Length values.
        Refusal("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: 1.0\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: ,\r\n\r\n", .invalidContentLength),
        Refusal("POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", .invalidContentLength),
        Refusal("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", .invalidContentLength, as: .response),
        Refusal(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .invalidContentLength,
            as: .response),
        // Transfer codings: a request's must end in chunked, which may appear only there.
        Refusal("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", .unsupportedTransferEncoding),
        Refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .unsupportedTransferEncoding),
        Refusal(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
            .unsupportedTransferEncoding),
        Refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .unsupportedTransferEncoding),
        Refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n", .unsupportedTransferEncoding),
        Refusal("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", .unsupportedTransferEncoding),
        Refusal("POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n", .unsupportedTransferEncoding),
        Refusal(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .unsupportedTransferEncoding,
            as: .response),
        // Versions.
        Refusal("GET / HTTP/2.0\r\n\r\n", .unsupportedVersion),
        Refusal("GET / HTTP/1.2\r\n\r\n", .unsupportedVersion),
        Refusal("GET / HTTP/0.9\r\nHost: a\r\n\r\n", .unsupportedVersion),
        Refusal("HTTP/2.0 200 OK\r\n\r\n", .unsupportedVersion, as: .response),
        Refusal("HTTP/1.2 200 OK\r\n\r\n", .unsupportedVersion, as: .response),
        // Start lines.
        Refusal("GET /\r\n\r\n", .malformedStartLine),
        Refusal("GET  / HTTP/1.1\r\n\r\n", .malformedStartLine),
        Refusal("GET / HTTP/1.1 \r\n\r\n", .malformedStartLine),
        Refusal("GET /  HTTP/1.1\r\n\r\n", .malformedStartLine),
        Refusal(" GET / HTTP/1.1\r\n\r\n", .malformedStartLine),
        Refusal("GET / http/1.1\r\n\r\n", .malformedStartLine),
        Refusal("GET / HTTP/1.10\r\n\r\n", .malformedStartLine),
        Refusal("GET / HTTP/11\r\n\r\n", .malformedStartLine),
        Refusal("GET / HTTP/a.1\r\n\r\n", .malformedStartLine),
        Refusal("G@T / HTTP/1.1\r\n\r\n", .malformedStartLine),
        Refusal("GET /a\u{7F}b HTTP/1.1\r\n\r\n", .malformedStartLine),
        Refusal("GET /\tx HTTP/1.1\r\n\r\n", .malformedStartLine),
        Refusal("GET / HTTP/1.1\rX\r\n\r\n", .malformedStartLine),
        Refusal("hello\r\nHost: a\r\n\r\n", .malformedStartLine),
        Refusal("HTTP/1.1 200 OK\r\n\r\n", .malformedStartLine),
        Refusal("HTTP/1.1 20 OK\r\n\r\n", .malformedStartLine, as: .response),
        Refusal("HTTP/1.1 099 Low\r\n\r\n", .malformedStartLine, as: .response),
        Refusal("HTTP/1.1 200OK\r\n\r\n", .malformedStartLine, as: .response),
        Refusal("HTTP/1.1 2x0 OK\r\n\r\n", .malformedStartLine, as: .response),
        Refusal("HTTP/1.1  200 OK\r\n\r\n", .malformedStartLine, as: .response),
        Refusal("HTTP/1.1 200 O\u{1}K\r\n\r\n", .malformedStartLine, as: .response),
        Refusal("HTTP/2 200\r\n\r\n", .malformedStartLine, as: .response),
        Refusal("HTTP/1.1\r\n\r\n", .malformedStartLine, as: .response),
        Refusal("GET / HTTP/1.1\r\n\r\n", .malformedStartLine, as: .response),
        // A response is never preceded by empty lines.
        Refusal("\r\nHTTP/1.1 200 OK\r\n\r\n", .malformedStartLine, as: .response),
        // Chunk framing.
        Refusal(chunked + "zz\r\n", .malformedChunk),
        Refusal(chunked + "\r\n", .malformedChunk),
        Refusal(chunked + "\n", .malformedChunk),
        Refusal(chunked + "5\n", .malformedChunk),
        Refusal(chunked + ";a=b\r\n", .malformedChunk),
        Refusal(chunked + "5 x\r\n", .malformedChunk),
        Refusal(chunked + "-1\r\n", .malformedChunk),
        Refusal(chunked + "0x5\r\n", .malformedChunk),
        Refusal(chunked + "5;a\u{1}\r\n", .malformedChunk),
        Refusal(chunked + "5\r\nhelloXY", .malformedChunk),
        Refusal(chunked + "5\r\nhello\n0\r\n\r\n", .malformedChunk),
        Refusal(chunked + "5\r\nhello\r\r", .malformedChunk),
        Refusal(chunked + "5\r\nhelloo\r\n0\r\n\r\n", .malformedChunk),
        Refusal(chunked + "0000000000000001\r\nx\r\n0\r\n\r\n", .malformedChunk),
        Refusal(chunked + "FFFFFFFFFFFFFFFF\r\n", .malformedChunk),
        Refusal(chunked + "0\r\nX: a\n\r\n", .malformedChunk),
        Refusal(chunked + "0\r\n\n", .malformedChunk),
        Refusal("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nG\r\n", .malformedChunk, as: .response),
        // A trailer line is a field line, held to the same rules.
        Refusal(chunked + "0\r\nbad trailer\r\n\r\n", .malformedField),
        Refusal(chunked + "0\r\nX : a\r\n\r\n", .malformedField),
        Refusal(chunked + "0\r\nX: a\u{1}\r\n\r\n", .malformedField),
    ]

    @Test("refused input throws its exact error, whole and byte by byte", arguments: refusals)
    func refused(refusal: Refusal) {
        let input = Self.bytes(refusal.text)
        let whole = Self.frame(input, as: refusal.role, finish: false)
        #expect(whole.error == refusal.error)
        let bytewise = Self.frame(input, as: refusal.role, cuts: Array(1..<input.count), finish: false)
        #expect(bytewise.error == refusal.error)
        // Nothing after a refused head is framed, and a refused message never ends.
        #expect(!whole.events.contains(.end))
    }

    @Test("equal Content-Lengths, as fields or list elements, are one length")
    func equalContentLengths() throws {
        for fields in ["Content-Length: 3\r\ncontent-length: 3", "Content-Length: 3, 3", "Content-Length: 3,3, 003"] {
            let outcome = Self.frame(Self.bytes("POST / HTTP/1.1\r\n\(fields)\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"))
            #expect(outcome.error == nil, "\(fields)")
            #expect(outcome.messages.map(\.head.framing) == [.length(3), .none], "\(fields)")
            #expect(outcome.messages.map(\.body) == [Self.bytes("abc"), []], "\(fields)")
        }
        // The largest length that fits 18 digits.
        let head = try Self.head("POST / HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n")
        #expect(head.framing == .length(999_999_999_999_999_999))
    }

    @Test("a response whose only coding is not chunked runs until close")
    func responseOtherCoding() throws {
        let outcome = Self.frame(
            Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"), as: .response)
        #expect(outcome.error == nil)
        #expect(outcome.messages.map(\.head.framing) == [.untilClose])
        #expect(outcome.messages.map(\.body) == [Self.bytes("0\r\n\r\n")])
        #expect(outcome.messages.map(\.head.keepAlive) == [false])
    }

    @Test("each refusal's status code and description")
    func statusCodes() {
        let all: [HTTPFramingError] = [
            .headTooLarge, .malformedStartLine, .unsupportedVersion, .malformedField, .invalidContentLength,
            .conflictingFraming, .unsupportedTransferEncoding, .malformedChunk, .truncated,
        ]
        #expect(all.map(\.statusCode) == [431, 400, 505, 400, 400, 400, 501, 400, 400])
        #expect(Set(all.map(\.description)).count == all.count)
        #expect(HTTPFramingError.headTooLarge.description.contains("\(HTTPMessageFramer.headBytesMax)"))
    }

    // MARK: Bounds

    /// A request head of exactly `length` bytes: one long field.
    static func requestHead(length: Int) -> String {
        let prefix = "GET / HTTP/1.1\r\nX-Big: "
        return prefix + String(repeating: "a", count: length - prefix.utf8.count - 4) + "\r\n\r\n"
    }

    @Test("a head may be headBytesMax bytes long, not one more")
    func headBound() throws {
        let max = HTTPMessageFramer.headBytesMax
        let fits = Self.frame(Self.bytes(Self.requestHead(length: max)))
        #expect(fits.error == nil)
        #expect(fits.messages.map(\.head.bytes.count) == [max])
        #expect(fits.messages.map(\.ended) == [true])
        #expect(Self.frame(Self.bytes(Self.requestHead(length: max + 1))).error == .headTooLarge)
        // Many short lines count as much as one long one.
        let lines = "GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: max / 8) + "\r\n"
        #expect(Self.frame(Self.bytes(lines)).error == .headTooLarge)
        #expect(Self.frame(Self.bytes(lines), cuts: Array(stride(from: 100, to: max, by: 100))).error == .headTooLarge)
        let response = "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "b", count: max) + "\r\n\r\n"
        #expect(Self.frame(Self.bytes(response), as: .response).error == .headTooLarge)
        #expect(HTTPFramingError.headTooLarge.statusCode == 431)
    }

    @Test("a head that never ends is refused once headBytesMax bytes of it have arrived, however they come")
    func endlessHead() throws {
        let max = HTTPMessageFramer.headBytesMax
        for piece in [1000, 7, max / 2] {
            var framer = HTTPMessageFramer(role: .request)
            var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nX-Big: ")
            while buffer.readableBytes < max - 1 {
                buffer.writeRepeatingByte(UInt8(ascii: "a"), count: min(piece, max - 1 - buffer.readableBytes))
                #expect(Self.plain(try framer.next(&buffer)) == nil, "pieces of \(piece)")
            }
            buffer.writeRepeatingByte(UInt8(ascii: "a"), count: 1)
            #expect(throws: HTTPFramingError.headTooLarge, "pieces of \(piece)") { try framer.next(&buffer) }
        }
        // The end arriving as the last allowed byte is in time.
        var framer = HTTPMessageFramer(role: .request)
        let head = Self.bytes(Self.requestHead(length: max))
        var buffer = ByteBuffer(bytes: head.dropLast())
        #expect(Self.plain(try framer.next(&buffer)) == nil)
        buffer.writeBytes(head.suffix(1))
        #expect(Self.plain(try framer.next(&buffer)) == .head(Head(bytes: head)))
    }

    @Test("a chunk-size line may be chunkLineBytesMax bytes long, and is refused once that many arrive without its end")
    func chunkLineBound() throws {
        let max = HTTPMessageFramer.chunkLineBytesMax
        func line(_ length: Int) -> String { "1;" + String(repeating: "e", count: length - 4) + "\r\n" }
        let fits = Self.frame(Self.bytes(Self.chunked + line(max) + "x\r\n0\r\n\r\n"))
        #expect(fits.error == nil)
        #expect(fits.messages.map(\.ended) == [true])
        #expect(Self.frame(Self.bytes(Self.chunked + line(max + 1) + "x\r\n0\r\n\r\n")).error == .malformedChunk)

        var framer = HTTPMessageFramer(role: .request)
        var buffer = ByteBuffer(string: Self.chunked + "1;")
        #expect(Self.plain(try framer.next(&buffer)) != nil)
        while buffer.readableBytes < max - 1 {
            buffer.writeRepeatingByte(UInt8(ascii: "e"), count: min(100, max - 1 - buffer.readableBytes))
            #expect(Self.plain(try framer.next(&buffer)) == nil)
        }
        buffer.writeRepeatingByte(UInt8(ascii: "e"), count: 1)
        #expect(throws: HTTPFramingError.malformedChunk) { try framer.next(&buffer) }
    }

    @Test("trailers that never end are refused once headBytesMax bytes of them have arrived")
    func endlessTrailers() throws {
        let max = HTTPMessageFramer.headBytesMax
        var framer = HTTPMessageFramer(role: .request)
        var buffer = ByteBuffer(string: Self.chunked + "0\r\n")
        #expect(Self.plain(try framer.next(&buffer)) != nil)
        #expect(Self.plain(try framer.next(&buffer)) == .body(Self.bytes("0\r\n")))
        buffer.writeString("X-T: ")
        while buffer.readableBytes < max - 1 {
            buffer.writeRepeatingByte(UInt8(ascii: "t"), count: min(999, max - 1 - buffer.readableBytes))
            #expect(Self.plain(try framer.next(&buffer)) == nil)
        }
        buffer.writeRepeatingByte(UInt8(ascii: "t"), count: 1)
        #expect(throws: HTTPFramingError.malformedChunk) { try framer.next(&buffer) }
    }

    // MARK: Hop-by-hop

    @Test("hop-by-hop fields: the standard ones in any case, and those a Connection field names")
    func hopByHop() throws {
        let head = try Self.head(
            "GET / HTTP/1.1\r\nHost: a\r\nCONNECTION: close, x-custom\r\nKeep-Alive: timeout=5\r\n"
                + "proxy-connection: keep-alive\r\nTE: trailers\r\nTrailer: Expires\r\nUpgrade: websocket\r\n"
                + "X-Custom: 1\r\nx-custom: 2\r\nX-Custom-2: 3\r\nX-Other: 4\r\nConnection: , x-other2 ,\r\n"
                + "X-Other2: 5\r\nContent-Length: 0\r\n\r\n")
        let hopByHop = head.fields.filter { head.isHopByHop($0) }.map { head.string(at: $0.name) }
        #expect(
            hopByHop == [
                "CONNECTION", "Keep-Alive", "proxy-connection", "TE", "Trailer", "Upgrade", "X-Custom", "x-custom",
                "Connection", "X-Other2",
            ])
        let endToEnd = head.fields.filter { !head.isHopByHop($0) }.map { head.string(at: $0.name) }
        #expect(endToEnd == ["Host", "X-Custom-2", "X-Other", "Content-Length"])

        let chunked = try Self.head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        #expect(chunked.fields.map { chunked.isHopByHop($0) } == [false, true])
        let plain = try Self.head("HTTP/1.1 200 OK\r\nte: x\r\nUPGRADE: h2c\r\nServer: s\r\n\r\n", as: .response)
        #expect(plain.fields.map { plain.isHopByHop($0) } == [true, true, false])
    }

    @Test("a name a Connection field lists is matched in any case, on either side")
    func connectionListedNamesIgnoreCase() throws {
        let head = try Self.head(
            "GET / HTTP/1.1\r\nConnection: X-Custom, X-Secret\r\nX-Custom: 1\r\nx-custom: 2\r\nX-SECRET: 3\r\n\r\n")
        #expect(head.fields.map { head.isHopByHop($0) } == [true, true, true, true])
    }

    @Test("Content-Length, Transfer-Encoding and Host stay end-to-end even when a Connection field names them")
    func framingFieldsNeverHopByHop() throws {
        // A proxy that dropped them would forward the body unframed: the next hop would read it as a new request.
        let length = try Self.head("POST / HTTP/1.1\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\n")
        let chunked = try Self.head(
            "POST / HTTP/1.1\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n")
        let lengthIsHopByHop = length.isHopByHop(length.fields[1])
        let transferEncodingIsHopByHop = chunked.isHopByHop(chunked.fields[1])
        // Unlisted, they are end-to-end.
        let unlisted = try Self.head("POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 5\r\n\r\n")
        #expect(!unlisted.isHopByHop(unlisted.fields[1]))
        #expect(!lengthIsHopByHop)
        #expect(!transferEncodingIsHopByHop)
        let host = try Self.head("GET / HTTP/1.1\r\nConnection: host\r\nHost: a\r\n\r\n")
        #expect(!host.isHopByHop(host.fields[1]))
    }

    // MARK: Fuzz

    @Test("random bytes and mutated messages never trap; what comes out is the input's bytes, the same for any split")
    func fuzz() {
        var random = SplitMix64(seed: 0x4854_5450)
        func below(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }
        let tokens = [
            "\r\n", "\r", "\n", " ", "\t", ":", ",", ";", "0", "1", "5", "a", "F", "\u{0}", "\u{7F}",
            "GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n", "HTTP/1.0 204 x\r\n", "Content-Length: ",
            "Transfer-Encoding: ",
            "chunked", "Connection: ", "close", "0\r\n\r\n", "\r\n\r\n", "3\r\nabc\r\n",
        ].map(Self.bytes)
        var framedMessages = 0
        var refusals = 0
        for round in 0..<3_000 {
            var role: Role = below(2) == 0 ? .request : .response
            var respondingToHEAD = below(4) == 0
            var input: [UInt8]
            switch round % 3 {
            case 0:
                input = (0..<below(96)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 1:
                input = (0..<below(24)).flatMap { _ in tokens[below(tokens.count)] }
            default:
                let sample = Self.samples[below(Self.samples.count)]
                (input, role, respondingToHEAD) = (sample.bytes, sample.role, sample.respondingToHEAD)
                for _ in 0...below(4) {
                    let kind = below(3)
                    if kind == 0 && !input.isEmpty {
                        input[below(input.count)] ^= 1 << below(8)
                    } else if kind == 1 {
                        let byte =
                            below(2) == 0 ? UInt8(truncatingIfNeeded: random.next()) : Array("\r\n:; 0".utf8)[below(6)]
                        input.insert(byte, at: below(input.count + 1))
                    } else if !input.isEmpty {
                        input.remove(at: below(input.count))
                    }
                }
            }
            var cuts: [Int] = []
            var at = 0
            while true {
                at += 1 + below(16)
                guard at < input.count else { break }
                cuts.append(at)
            }
            let finish = below(2) == 0
            let whole = Self.frame(input, as: role, respondingToHEAD: respondingToHEAD, finish: finish)
            let split = Self.frame(input, as: role, cuts: cuts, respondingToHEAD: respondingToHEAD, finish: finish)
            #expect(whole.consumed <= input.count && split.consumed <= input.count)
            if whole.error == nil && split.error == nil {
                #expect(split.events == whole.events, "\(input) cut at \(cuts)")
            } else {
                #expect(split.error == whole.error, "\(input) cut at \(cuts)")
            }
            framedMessages += whole.messages.filter(\.ended).count
            refusals += whole.error == nil ? 0 : 1
        }
        // The fuzz reached both sides: messages that framed through to their end, and refusals.
        #expect(framedMessages > 200)
        #expect(refusals > 1_000)
    }
}
