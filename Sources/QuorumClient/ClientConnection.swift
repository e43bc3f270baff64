import NIOCore
import NIOPosix
import QuorumStore
import QuorumWire

/// One connection to one node. Requests are matched to responses by id, so many can be in flight at once.
final class ClientConnection: Sendable {
    let endpoint: String
    private let channel: any Channel
    private let responses: ResponseRouter

    private init(endpoint: String, channel: any Channel, responses: ResponseRouter) {
        self.endpoint = endpoint
        self.channel = channel
        self.responses = responses
    }

    static func connect(
        to endpoint: String, group: any EventLoopGroup, frameBytesMax: Int, tls: QuorumClientTLS? = nil
    ) async throws -> ClientConnection {
        let parts = endpoint.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else {
            throw QuorumClientError.badEndpoint(endpoint)
        }
        let host = String(parts[0])
        let router = ResponseRouter()
        let handshake = group.next().makePromise(of: Void.self)
        // Completed on every path: a connection that never opens never runs the waiter.
        defer { handshake.fail(ChannelError.eof) }
        let channel = try await ClientBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try tls.handler(for: host))
                        try channel.pipeline.syncOperations.addHandler(TLSHandshakeWaiter(done: handshake))
                    }
                    try channel.pipeline.syncOperations.addFrameHandlers(frameBytesMax: frameBytesMax, then: router)
                }
            }
            .connect(host: host, port: port).get()
        if tls != nil {
            do {
                try await handshake.futureResult.get()
            } catch {
                channel.close(promise: nil)
                throw QuorumClientError.unreachable(endpoints: [endpoint], lastError: "TLS handshake failed: \(error)")
            }
        }
        return ClientConnection(endpoint: endpoint, channel: channel, responses: router)
    }

    var isActive: Bool { channel.isActive }

    func send(_ request: ClientRequest, timeout: TimeAmount) async throws -> ClientResponse {
        let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
        let router = responses
        let channel = channel
        channel.eventLoop.execute {
            // The connection may have dropped since it was handed out: fail now rather than at the timeout.
            guard channel.isActive else { return promise.fail(QuorumClientError.connectionLost) }
            router.expect(request.requestID, promise: promise)
            channel.writeAndFlush(request.frame, promise: nil)
            channel.eventLoop.scheduleTask(in: timeout) {
                router.fail(request.requestID, with: QuorumClientError.timedOut(endpoint: self.endpoint))
            }
        }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.eventLoop.execute { router.fail(request.requestID, with: QuorumClientError.cancelled) }
        }
    }

    /// Opens a watch: every `.watchEvents` answer to `request` is yielded; `.watchEnded` finishes the stream.
    /// Ending the iteration sends a cancel.
    func openWatch(_ request: ClientRequest) -> AsyncThrowingStream<[WatchEvent], any Error> {
        let (stream, continuation) = AsyncThrowingStream<[WatchEvent], any Error>.makeStream()
        let router = responses
        let channel = channel
        continuation.onTermination = { termination in
            guard case .cancelled = termination else { return }
            let cancel = ClientRequest(
                requestID: request.requestID &+ (1 << 63), group: request.group,
                operation: .cancelWatch(requestID: request.requestID))
            channel.eventLoop.execute {
                router.stopStreaming(request.requestID)
                channel.writeAndFlush(cancel.frame, promise: nil)
            }
        }
        channel.eventLoop.execute {
            // A connection that dropped before the watch was registered would never end it: the watcher would
            // wait forever (a lock waiter did, after its node was killed).
            guard channel.isActive else { return continuation.finish(throwing: QuorumClientError.connectionLost) }
            router.stream(request.requestID, to: continuation)
            channel.writeAndFlush(request.frame, promise: nil)
        }
        return stream
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// Completes each request's promise with its response; fails them all if the connection drops.
final class ResponseRouter: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: `pending` is touched only on the channel's event loop (handler callbacks, and the
    // closures `ClientConnection.send` runs there).
    typealias InboundIn = Frame

    private var pending: [UInt64: EventLoopPromise<ClientResponse>] = [:]
    private var streams: [UInt64: AsyncThrowingStream<[WatchEvent], any Error>.Continuation] = [:]
    /// A response too large for one frame (a backup) arrives in parts, one after another.
    private var assembler = FrameAssembler(bytesMax: ClientResponse.assembledBytesMax)

    func stream(_ requestID: UInt64, to continuation: AsyncThrowingStream<[WatchEvent], any Error>.Continuation) {
        streams[requestID] = continuation
    }

    func stopStreaming(_ requestID: UInt64) {
        streams[requestID] = nil
    }

    func expect(_ requestID: UInt64, promise: EventLoopPromise<ClientResponse>) {
        pending[requestID] = promise
    }

    func fail(_ requestID: UInt64, with error: any Error) {
        pending.removeValue(forKey: requestID)?.fail(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            var frame = unwrapInboundIn(data)
            if frame.kind == .part {
                guard let whole = try assembler.add(frame) else { return }
                frame = whole
            }
            let response = try ClientResponse(decoding: frame)
            if let stream = streams[response.requestID] {
                switch response.outcome {
                case .watchEvents(let events):
                    stream.yield(events)
                case .watchEnded(let reason, let resume):
                    streams[response.requestID] = nil
                    stream.finish(throwing: QuorumClientError.watchEnded(reason: reason, resumeRevision: resume))
                default:
                    streams[response.requestID] = nil
                    stream.finish(throwing: QuorumClientError.unexpectedResponse("\(response.outcome)"))
                }
                return
            }
            pending.removeValue(forKey: response.requestID)?.succeed(response)
        } catch {
            context.fireErrorCaught(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let waiting = pending
        pending.removeAll()
        for promise in waiting.values { promise.fail(QuorumClientError.connectionLost) }
        let watching = streams
        streams.removeAll()
        for stream in watching.values { stream.finish(throwing: QuorumClientError.connectionLost) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
