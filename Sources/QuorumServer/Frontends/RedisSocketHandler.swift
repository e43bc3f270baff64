import NIOCore
import QuorumWire

/// The socket side of a Redis connection, on a client event loop: decoding, encoding and the socket's reads and
/// writes happen here, so that no client's traffic delays the node's loop, where heartbeats, votes and fsync
/// completions are handled. The commands a turn decoded cross to the `RedisConnection` on the node's loop in one
/// hop, and its replies come back the same way: a command costs two hops, and a pipeline of them no more.
///
/// The socket reads while fewer than `RedisConnection.inFlightMax` of the commands it handed over have not started
/// (the connection says how many started with its replies), and while it takes more replies. So a client that sends
/// faster than the node serves, or never reads, fills neither loop's queue.
final class RedisSocketHandler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked Sendable: its state is touched only on its channel's loop; the connection's calls hop there.
    typealias InboundIn = RESPValue
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer
    /// A reply and the protocol version it is written in.
    typealias Reply = (value: RESPValue, protocolVersion: Int)
    /// Replies, and bytes of pushes among them, the kernel took since the connection was last told.
    struct Written: Sendable {
        var replies = 0
        var pushBytes = 0
    }
    /// Written replies or push bytes past which the connection is told at once, not with the next commands: its
    /// count of replies held is then at most this much too high.
    private static let writtenToldEarly = Written(replies: RedisConnection.inFlightMax / 4, pushBytes: 1 << 20)

    /// From the node's loop to this socket's, and back: shared by the connections of one client loop.
    private let fromNode: LoopCourier
    private let toNode: LoopCourier
    private let makeConnection: (RedisSocketHandler, _ address: String, _ localAddress: String) -> RedisConnection
    private var connection: RedisConnection?
    private var context: ChannelHandlerContext?
    /// Decoded in this read and not yet handed over.
    private var decoded: [RESPValue] = []
    /// Commands handed over that the connection has not said it started.
    private var notStarted = 0
    private var writtenUntold = Written()
    private var readPending = false

    init(
        fromNode: LoopCourier, toNode: LoopCourier,
        makeConnection: @escaping (RedisSocketHandler, _ address: String, _ localAddress: String) -> RedisConnection
    ) {
        self.fromNode = fromNode
        self.toNode = toNode
        self.makeConnection = makeConnection
    }

    // MARK: Called by the connection, on the node's loop

    /// Writes `replies`; `started` commands handed over have started since the last call.
    func send(_ replies: [Reply], pushBytes: Int, started: Int, thenClose: Bool) {
        fromNode.send {
            self.notStarted -= started
            self.readIfAllowed()
            guard let context = self.context else { return }
            var buffer = context.channel.allocator.buffer(capacity: 256)
            for reply in replies { reply.value.write(to: &buffer, protocolVersion: reply.protocolVersion) }
            if !replies.isEmpty {
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.whenComplete { [count = replies.count] _ in
                    self.writtenUntold.replies += count
                    self.writtenUntold.pushBytes += pushBytes
                    guard
                        self.writtenUntold.replies >= Self.writtenToldEarly.replies
                            || self.writtenUntold.pushBytes >= Self.writtenToldEarly.pushBytes
                    else { return }
                    let written = self.takeWritten()
                    self.onNodeLoop { $0.written(written) }
                }
                context.writeAndFlush(self.wrapOutboundOut(buffer), promise: written)
            }
            if thenClose { context.close(promise: nil) }
        }
    }

    func close() {
        fromNode.send { self.context?.close(promise: nil) }
    }

    // MARK: The channel's events, on the client loop

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let connection = makeConnection(
            self, Self.text(of: context.channel.remoteAddress), Self.text(of: context.channel.localAddress))
        self.connection = connection
        toNode.send { connection.start() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        // An empty array is skipped, as Redis does: it gets no reply.
        if case .array(let parts) = value, parts.isEmpty { return }
        decoded.append(value)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        handOver()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handOver()
        guard let protocolError = error as? RESPProtocolError else { return context.close(promise: nil) }
        onNodeLoop { $0.refuse(protocolError) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            handOver()
            onNodeLoop { $0.inputEnded() }
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            return onNodeLoop { $0.idle() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        decoded.removeAll()
        onNodeLoop { $0.end() }
        // The connection holds this handler until it ends; from here on it needs nothing of it.
        connection = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        readIfAllowed()
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if mayRead(context) { context.read() } else { readPending = true }
    }

    private func mayRead(_ context: ChannelHandlerContext) -> Bool {
        notStarted < RedisConnection.inFlightMax && context.channel.isWritable
    }

    private func readIfAllowed() {
        guard readPending, let context, mayRead(context) else { return }
        readPending = false
        context.read()
    }

    private func handOver() {
        guard !decoded.isEmpty else { return }
        let batch = decoded
        decoded.removeAll(keepingCapacity: true)
        notStarted += batch.count
        let written = takeWritten()
        onNodeLoop { $0.receive(batch, written: written) }
    }

    private func takeWritten() -> Written {
        defer { writtenUntold = Written() }
        return writtenUntold
    }

    private func onNodeLoop(_ body: @escaping @Sendable (RedisConnection) -> Void) {
        guard let connection else { return }
        toNode.send { body(connection) }
    }

    private static func text(of address: SocketAddress?) -> String {
        guard let address, let ip = address.ipAddress, let port = address.port else { return "" }
        return "\(ip):\(port)"
    }
}
