import NIOCore
import NIOPosix
import Prometheus
import QuorumWire

/// The Redis-compatible port (`--redis-port`): RESP in, the node runtime behind. The listener and every connection
/// run on the runtime's own event loop, so commands reach the runtime (and the executor shared by all
/// connections) without a hop or a lock.
enum RedisPort {
    static func listen(
        router: RedisRouter, host: String, port: Int, gate: ConnectionGate, idleClosed: Counter
    ) throws -> any Channel {
        let idleTimeout = router.host.configuration.redisIdleTimeout
        let ids = ConnectionIDs()
        // A bulk string may be as large as the largest write the node accepts; larger ones are refused from
        // their header, before anything is buffered for them.
        let bulkBytesMax = router.host.configuration.requestBytesMax
        return try ServerBootstrap(group: router.host.loop)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            // A client may send its commands and shut down its side before the answers come (as `nc` does).
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = RedisConnectionHandler(router: router, id: ids.next())
                    try channel.pipeline.syncOperations.addHandler(gate.handler())
                    if let tls = router.host.clientTLS {
                        try channel.pipeline.syncOperations.addHandler(tls.serverHandler())
                    }
                    if let idleTimeout {
                        try channel.pipeline.syncOperations.addHandlers(
                            IdleStateHandler(readTimeout: TimeAmount(idleTimeout)),
                            IdleCloser(closed: idleClosed) { handler.waitsByDesign })
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(RESPDecoder(bulkBytesMax: bulkBytesMax)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: host, port: port).wait()
    }
}

/// Numbers connections for CLIENT ID and HELLO.
private final class ConnectionIDs: @unchecked Sendable {
    // @unchecked Sendable: used only by the child channel initializer, which runs on the runtime's loop.
    private var last: Int64 = 0

    func next() -> Int64 {
        last += 1
        return last
    }
}

/// Closes a connection that sent nothing for the idle timeout (Redis's `timeout`), and counts it; a subscriber or a
/// blocked pop, which wait silently by design, is spared.
private final class IdleCloser: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let closed: Counter
    private let isSpared: () -> Bool

    init(closed: Counter, isSpared: @escaping () -> Bool) {
        self.closed = closed
        self.isSpared = isSpared
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read else {
            return context.fireUserInboundEventTriggered(event)
        }
        guard !isSpared() else { return }
        closed.increment()
        context.close(promise: nil)
    }
}
