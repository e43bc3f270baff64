import Foundation
import NIOCore
import NIOPosix
import QuorumClient
import QuorumProxy
import Synchronization
import Testing

extension ClusterTests {
    @Test(
        "the HTTP proxy keeps HTTP/1.x's edges: pipelining, HEAD, 100-continue, bodies until close, 1.0 clients, hop-by-hop fields, and refuses what could be smuggled"
    )
    func httpProxyProtocolEdges() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backend = try await ScriptedHTTPBackend(group: group)
        let registration = try await client.register(ServiceInstance(service: "web", id: "s", address: backend.address))
        let proxy = try await ServiceProxy(
            service: "web", host: "127.0.0.1", port: 0, endpoints: cluster.clientEndpoints, policy: .roundRobin,
            mode: .http, checkInterval: .seconds(60))
        func connect() async throws -> RawConnection { try await RawConnection(port: proxy.port, group: group) }

        // A 1 MiB body sent before the proxy has any connection to the instance waits in the client's socket
        // while one opens, then streams through whole.
        let big = String(repeating: "0123456789abcdef", count: 1 << 16)
        let first = try await connect()
        try await first.write("POST /echo/big HTTP/1.1\r\nhost: t\r\ncontent-length: \(big.utf8.count)\r\n\r\n" + big)
        let echoed = try await first.read { $0.hasSuffix(big) }
        #expect(echoed.hasPrefix("HTTP/1.1 200 OK\r\n") && echoed.contains("POST /echo/big " + big.prefix(32)))
        await first.close()

        // Three pipelined requests in one write come back in order, a body between them.
        let pipelined = try await connect()
        try await pipelined.write(
            "GET /echo/one HTTP/1.1\r\nhost: t\r\n\r\n"
                + "POST /echo/two HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\n\r\nbody"
                + "GET /echo/three HTTP/1.1\r\nhost: t\r\n\r\n")
        let answers = try await pipelined.read {
            $0.components(separatedBy: "HTTP/1.1 200").count == 4 && $0.hasSuffix("three")
        }
        let order = ["GET /echo/one", "POST /echo/two body", "GET /echo/three"].map {
            answers.range(of: $0)?.lowerBound
        }
        #expect(order.allSatisfy { $0 != nil } && order == order.sorted { $0! < $1! }, "\(answers)")

        // A response to HEAD has a length but no body; the connection goes on with the next request.
        try await pipelined.write("HEAD /head HTTP/1.1\r\nhost: t\r\n\r\nGET /echo/after HTTP/1.1\r\nhost: t\r\n\r\n")
        let afterHead = try await pipelined.read { $0.hasSuffix("GET /echo/after") }
        #expect(afterHead.contains("content-length: 5\r\n\r\nHTTP/1.1 200"), "\(afterHead)")

        // Hop-by-hop fields of the response stay with the proxy, those it names in Connection too.
        try await pipelined.write("GET /hop HTTP/1.1\r\nhost: t\r\n\r\n")
        let hop = try await pipelined.read { $0.hasSuffix("hop") }
        #expect(hop.contains("x-end-to-end: kept"))
        #expect(!hop.lowercased().contains("x-private") && !hop.lowercased().contains("keep-alive"), "\(hop)")

        // X-Forwarded-For grows by the client's address; the request's own hop-by-hop fields are not forwarded.
        try await pipelined.write(
            "GET /echo/headers HTTP/1.1\r\nhost: t\r\nx-forwarded-for: 10.0.0.1\r\nconnection: x-secret\r\nx-secret: 1\r\n\r\n"
        )
        let forwarded = try await pipelined.read { $0.hasSuffix("GET /echo/headers") }
        #expect(forwarded.contains("x-seen-forwarded-for: 10.0.0.1, 127.0.0.1"), "\(forwarded)")
        #expect(forwarded.contains("x-seen-secret: none"), "\(forwarded)")

        // Expect: 100-continue: the instance's 100 reaches the client, which only then sends the body.
        try await pipelined.write(
            "POST /echo/continue HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n")
        _ = try await pipelined.read { $0.hasSuffix("HTTP/1.1 100 Continue\r\n\r\n") }
        try await pipelined.write("hello")
        _ = try await pipelined.read { $0.hasSuffix("POST /echo/continue hello") }
        #expect(pipelined.isOpen)

        // A body that runs until the instance closes reaches the client whole, and its connection closes after it.
        try await pipelined.write("GET /until-close HTTP/1.1\r\nhost: t\r\n\r\n")
        let streamed = try await pipelined.readToClose()
        #expect(streamed.hasSuffix("connection: close\r\n\r\nall of it, then close"), "\(streamed)")

        // HTTP/1.0: closed after the response unless it asks to be kept, and then told it is.
        let old = try await connect()
        try await old.write("GET /echo/old HTTP/1.0\r\n\r\n")
        let oldAnswer = try await old.readToClose()
        #expect(oldAnswer.contains("connection: close") && oldAnswer.hasSuffix("GET /echo/old"), "\(oldAnswer)")
        let kept = try await connect()
        try await kept.write("GET /echo/kept HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
        let keptAnswer = try await kept.read { $0.hasSuffix("GET /echo/kept") }
        #expect(keptAnswer.contains("connection: keep-alive"), "\(keptAnswer)")
        #expect(kept.isOpen)
        await kept.close()

        // What could frame a request two ways, or is not HTTP/1.x, gets its error and a closed connection; the
        // instance never sees it.
        let before = backend.requests
        let bigHeadStart = "GET /echo/x HTTP/1.1\r\nx-big: "
        let bigHead = bigHeadStart + String(repeating: "b", count: 64 * 1024 - bigHeadStart.utf8.count)
        let refusals: [(request: String, status: String)] = [
            (
                "POST /echo/x HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
                "400"
            ),
            ("POST /echo/x HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd", "400"),
            ("GET /echo/x HTTP/1.1\nhost: t\n\n", "400"),
            ("GET /echo/x HTTP/1.1\r\nhost: t\r\n folded\r\n\r\n", "400"),
            ("GET /echo/x HTTP/1.1\r\nhost : t\r\n\r\n", "400"),
            ("POST /echo/x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: gzip\r\n\r\n", "501"),
            ("GET /echo/x HTTP/2.0\r\nhost: t\r\n\r\n", "505"),
            ("CONNECT example.com:443 HTTP/1.1\r\nhost: example.com\r\n\r\n", "501"),
            // Exactly the limit and no end of head: refused once all of it is in, so nothing is left unread for
            // the close to turn into a reset that could lose the answer.
            (bigHead, "431"),
        ]
        for (request, status) in refusals {
            let connection = try await connect()
            try await connection.write(request)
            let answer = try await connection.readToClose()
            #expect(answer.hasPrefix("HTTP/1.1 \(status) "), "\(request.prefix(60)): \(answer)")
        }
        #expect(backend.requests == before)

        // An instance that answers with something other than HTTP gets a 502, not a hang.
        let garbled = try await connect()
        try await garbled.write("GET /garbage HTTP/1.1\r\nhost: t\r\n\r\n")
        #expect(try await garbled.read { $0.contains("\r\n\r\n") }.hasPrefix("HTTP/1.1 502 "))

        for connection in [pipelined, old, garbled] { await connection.close() }
        try await proxy.shutdown()
        try await registration.deregister()
        try await backend.stop()
        try await group.shutdownGracefully()
        await client.close()
    }
}

/// An HTTP/1.1 instance that answers from a script, in raw bytes, so that the proxy meets responses NIO's encoder
/// would not write: `/echo/...` answers with the request line and body (and reports two request fields), `/head`
/// a HEAD with a length and no body, `/hop` with hop-by-hop fields, `/until-close` a body without a length,
/// `/garbage` something that is not HTTP. `Expect: 100-continue` gets its 100 before the body is read.
private final class ScriptedHTTPBackend: Sendable {
    let channel: any Channel
    private let counter = Counter()

    init(group: any EventLoopGroup) async throws {
        let counter = counter
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Script(counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var address: String { "127.0.0.1:\(channel.localAddress?.port ?? 0)" }
    var requests: Int { counter.value.withLock { $0 } }

    func stop() async throws { try await channel.close() }

    final class Counter: Sendable {
        let value = Mutex(0)
    }

    private final class Script: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: used only on its channel's loop.
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let counter: Counter
        private var received: [UInt8] = []
        private var continued = false

        init(counter: Counter) { self.counter = counter }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += unwrapInboundIn(data).readableBytesView
            while let end = headEnd() {
                let head = String(decoding: received[..<end], as: UTF8.self)
                let lines = head.components(separatedBy: "\r\n")
                let fields = Dictionary(
                    lines.dropFirst().compactMap { line -> (String, String)? in
                        guard let colon = line.firstIndex(of: ":") else { return nil }
                        return (
                            line[..<colon].lowercased(),
                            line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                        )
                    }, uniquingKeysWith: { $0 + ", " + $1 })
                let length = Int(fields["content-length"] ?? "0") ?? 0
                guard received.count >= end + 4 + length else {
                    if fields["expect"] == "100-continue" && !continued {
                        continued = true
                        send("HTTP/1.1 100 Continue\r\n\r\n", context)
                    }
                    return
                }
                let body = String(decoding: received[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                received.removeFirst(end + 4 + length)
                continued = false
                counter.value.withLock { $0 += 1 }
                answer(requestLine: lines[0], fields: fields, body: body, context)
            }
        }

        private func headEnd() -> Int? {
            guard received.count >= 4 else { return nil }
            return (0...(received.count - 4)).first { received[$0..<($0 + 4)].elementsEqual("\r\n\r\n".utf8) }
        }

        private func answer(
            requestLine: String, fields: [String: String], body: String, _ context: ChannelHandlerContext
        ) {
            let parts = requestLine.split(separator: " ")
            let (method, path) = (String(parts[0]), String(parts[1]))
            switch path {
            case "/head":
                send("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", context)
            case "/hop":
                send(
                    "HTTP/1.1 200 OK\r\nconnection: x-private\r\nx-private: secret\r\nkeep-alive: timeout=5\r\n"
                        + "x-end-to-end: kept\r\ncontent-length: 3\r\n\r\nhop", context)
            case "/until-close":
                send("HTTP/1.1 200 OK\r\n\r\nall of it, then close", context)
                context.close(promise: nil)
            case "/garbage":
                send("HTP/1.1 200 OK\r\n\r\n", context)
            default:
                let echo = body.isEmpty ? "\(method) \(path)" : "\(method) \(path) \(body)"
                send(
                    "HTTP/1.1 200 OK\r\nx-seen-forwarded-for: \(fields["x-forwarded-for"] ?? "none")\r\n"
                        + "x-seen-secret: \(fields["x-secret"] ?? "none")\r\ncontent-length: \(echo.utf8.count)\r\n\r\n\(echo)",
                    context)
            }
        }

        private func send(_ text: String, _ context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
        }
    }
}

/// A client connection that writes raw bytes and reads what comes back as text.
private final class RawConnection: Sendable {
    let channel: any Channel
    private let reader: Reader

    init(port: Int, group: any EventLoopGroup) async throws {
        let reader = Reader()
        self.reader = reader
        channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reader) }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    var isOpen: Bool { channel.isActive }

    func write(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text)).get()
    }

    /// How long an answer may take before the test gives up on it, instead of hanging.
    static let patienceSeconds: Int64 = 20

    struct NoAnswer: Error {}

    /// Everything received since the last read, once `complete` holds for it; fails if the connection closes first.
    func read(until complete: @escaping @Sendable (String) -> Bool) async throws -> String {
        let (reader, loop) = (reader, channel.eventLoop)
        return try await loop.flatSubmit {
            let answer = reader.await(complete, on: loop)
            let timeout = loop.scheduleTask(in: .seconds(Self.patienceSeconds)) { reader.giveUp() }
            answer.whenComplete { _ in timeout.cancel() }
            return answer
        }.get()
    }

    /// Everything received until the proxy closes the connection.
    func readToClose() async throws -> String {
        guard try await Patience.peerCloses(channel, within: Self.patienceSeconds) else { throw NoAnswer() }
        let reader = reader
        return try await channel.eventLoop.submit { reader.takeAll() }.get()
    }

    func close() async { try? await channel.close() }

    private final class Reader: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: used only on its channel's loop.
        typealias InboundIn = ByteBuffer
        private var text = ""
        private var waiting: (complete: @Sendable (String) -> Bool, promise: EventLoopPromise<String>)?

        func await(_ complete: @escaping @Sendable (String) -> Bool, on loop: any EventLoop) -> EventLoopFuture<String>
        {
            let promise = loop.makePromise(of: String.self)
            waiting = (complete, promise)
            check()
            return promise.futureResult
        }

        func giveUp() {
            waiting?.promise.fail(NoAnswer())
            waiting = nil
        }

        func takeAll() -> String {
            defer { text = "" }
            return text
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
            check()
        }

        func channelInactive(context: ChannelHandlerContext) {
            waiting?.promise.fail(ChannelError.ioOnClosedChannel)
            waiting = nil
            context.fireChannelInactive()
        }

        private func check() {
            guard let waiting, waiting.complete(text) else { return }
            self.waiting = nil
            waiting.promise.succeed(takeAll())
        }
    }
}
