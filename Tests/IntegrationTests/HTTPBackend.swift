import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 server on 127.0.0.1 for the proxy tests. It answers every request with its own name, `GET
/// /slow` after a delay, and `POST` with its name and the body it received (chunked); `/healthz` answers 200, or
/// 503 while `failHealthChecks` is set. It counts what it sees so that tests can compare with the proxy's view.
final class HTTPBackend: Sendable {
    struct Seen: Sendable {
        /// Connections that carried a request other than a health check (probes open one each time).
        var connectionsUsed = 0
        /// Of those, the ones still open.
        var connectionsOpen = 0
        /// Requests other than health checks.
        var requests = 0
        var forwardedFor: [String] = []
    }

    /// What the backend's connections share, across threads.
    private final class Shared: Sendable {
        let state = Mutex((seen: Seen(), failHealthChecks: false))
        /// Every accepted connection, so that `kill` can drop them as a dying process would.
        let connections = Mutex<[any Channel]>([])
    }

    let name: String
    let channel: any Channel
    private let shared: Shared

    /// Listens on `port`, or any free port with 0 (a restarted backend takes its old port again).
    init(name: String, group: any EventLoopGroup, port: Int = 0, slowDelay: TimeAmount = .seconds(1)) async throws {
        self.name = name
        let shared = Shared()
        self.shared = shared
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                shared.connections.withLock { $0.append(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        Responder(name: name, shared: shared, slowDelay: slowDelay))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
    }

    var port: Int { channel.localAddress?.port ?? 0 }
    var address: String { "127.0.0.1:\(port)" }
    var seen: Seen { shared.state.withLock { $0.seen } }

    func failHealthChecks(_ failing: Bool) { shared.state.withLock { $0.failHealthChecks = failing } }

    func stop() async throws { try await channel.close() }

    /// Stops listening and drops every connection at once, as a killed process would.
    func kill() async throws {
        try await channel.close()
        for connection in shared.connections.withLock({ $0 }) { try? await connection.close() }
    }

    private final class Responder: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: used only on its channel's loop.
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let name: String
        let shared: Shared
        let slowDelay: TimeAmount
        private var head: HTTPRequestHead?
        private var body = ""
        private var carriedRequests = false

        init(name: String, shared: Shared, slowDelay: TimeAmount) {
            self.name = name
            self.shared = shared
            self.slowDelay = slowDelay
        }

        func channelInactive(context: ChannelHandlerContext) {
            if carriedRequests { shared.state.withLock { $0.seen.connectionsOpen -= 1 } }
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = ""
            case .body(var buffer):
                body += buffer.readString(length: buffer.readableBytes) ?? ""
            case .end:
                guard let head else { return }
                if head.uri == "/healthz" {
                    let failing = shared.state.withLock { $0.failHealthChecks }
                    respond(context: context, to: head, status: failing ? .serviceUnavailable : .ok, body: name, chunked: false)
                    return
                }
                let first = !carriedRequests
                carriedRequests = true
                shared.state.withLock {
                    if first {
                        $0.seen.connectionsUsed += 1
                        $0.seen.connectionsOpen += 1
                    }
                    $0.seen.requests += 1
                    $0.seen.forwardedFor.append(head.headers["x-forwarded-for"].joined(separator: ","))
                }
                if head.uri == "/slow" {
                    let context = NIOLoopBound(context, eventLoop: context.eventLoop)
                    context.value.eventLoop.scheduleTask(in: slowDelay) {
                        self.respond(context: context.value, to: head, status: .ok, body: self.name, chunked: false)
                    }
                } else if head.method == .POST {
                    respond(context: context, to: head, status: .ok, body: "\(name):\(body)", chunked: true)
                } else {
                    respond(context: context, to: head, status: .ok, body: name, chunked: false)
                }
            }
        }

        private func respond(
            context: ChannelHandlerContext, to request: HTTPRequestHead, status: HTTPResponseStatus, body: String,
            chunked: Bool
        ) {
            var head = HTTPResponseHead(version: request.version, status: status)
            // Without a length, NIO frames the body as chunked.
            if !chunked { head.headers.add(name: "content-length", value: "\(body.utf8.count)") }
            if !request.isKeepAlive { head.headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if chunked {
                // Two chunks, so that the proxy forwards a body in parts.
                let middle = body.index(body.startIndex, offsetBy: body.count / 2)
                for part in [body[..<middle], body[middle...]] {
                    context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: String(part))))), promise: nil)
                }
            } else {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            }
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            let channel = context.channel
            if !request.isKeepAlive { written.whenComplete { _ in channel.close(promise: nil) } }
        }
    }
}

/// One keep-alive client connection, sending requests one after another.
final class HTTPTestClient: Sendable {
    struct Reply: Sendable {
        var status: Int
        var body: String
        var headers: HTTPHeaders
    }

    let channel: any Channel
    private let collector: Collector

    init(port: Int, group: any EventLoopGroup) async throws {
        let collector = Collector()
        self.collector = collector
        channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    /// Sends one request, the body in the given chunks (chunked framing if there are any), and awaits the answer.
    func send(_ uri: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], chunks: [String] = [])
        async throws -> Reply
    {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        head.headers.add(name: "host", value: "test")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if !chunks.isEmpty { head.headers.add(name: "transfer-encoding", value: "chunked") }
        let (channel, collector, request) = (channel, collector, head)
        return try await channel.eventLoop.flatSubmit {
            let reply = channel.eventLoop.makePromise(of: Reply.self)
            collector.pending = reply
            channel.write(HTTPClientRequestPart.head(request), promise: nil)
            for chunk in chunks { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: chunk))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            return reply.futureResult
        }.get()
    }

    func close() async { try? await channel.close() }

    private final class Collector: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: used only on its channel's loop.
        typealias InboundIn = HTTPClientResponsePart
        var pending: EventLoopPromise<Reply>?
        private var reply = Reply(status: 0, body: "", headers: [:])

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): reply = Reply(status: Int(head.status.code), body: "", headers: head.headers)
            case .body(var buffer): reply.body += buffer.readString(length: buffer.readableBytes) ?? ""
            case .end:
                pending?.succeed(reply)
                pending = nil
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            pending?.fail(ChannelError.ioOnClosedChannel)
            pending = nil
            context.fireChannelInactive()
        }
    }
}
