import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuorumWire

/// The Redis-compatible port (`--redis-port`): RESP in, the node runtime behind. Connections are served on the
/// client loops (`RedisSocketHandler`) and their commands run on the node's loop (`RedisConnection`), where the
/// executor shared by every connection lives.
enum RedisPort {
    static func listen(
        router: RedisRouter, on clientLoops: any EventLoopGroup, host: String, port: Int, gate: ConnectionGate
    ) throws -> any Channel {
        let configuration = router.host.configuration
        let (nodeLoop, tls, idleTimeout) = (router.host.loop, router.host.clientTLS, configuration.redisIdleTimeout)
        let ids = ConnectionIDs()
        let couriers = Dictionary(
            uniqueKeysWithValues: clientLoops.makeIterator().map { loop in
                (ObjectIdentifier(loop), (LoopCourier(from: nodeLoop, to: loop), LoopCourier(from: loop, to: nodeLoop)))
            })
        // A bulk string may be as large as the largest write the node accepts; larger ones are refused from
        // their header, before anything is buffered for them.
        let bulkBytesMax = configuration.requestBytesMax
        return try ServerBootstrap(group: clientLoops)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            // A client may send its commands and shut down its side before the answers come (as `nc` does).
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A child channel runs on a loop of the group, which has its couriers; one of its own would
                    // only batch less.
                    let loop = channel.eventLoop
                    let (fromNode, toNode) =
                        couriers[ObjectIdentifier(loop)]
                        ?? (LoopCourier(from: nodeLoop, to: loop), LoopCourier(from: loop, to: nodeLoop))
                    let socket = RedisSocketHandler(fromNode: fromNode, toNode: toNode) {
                        RedisConnection(
                            router: router, id: ids.next(), socket: $0, address: $1, localAddress: $2)
                    }
                    try channel.pipeline.syncOperations.addHandler(gate.handler())
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls.serverHandler()) }
                    if let idleTimeout {
                        try channel.pipeline.syncOperations.addHandler(
                            IdleStateHandler(readTimeout: TimeAmount(idleTimeout)))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(RESPDecoder(bulkBytesMax: bulkBytesMax)))
                    try channel.pipeline.syncOperations.addHandler(socket)
                }
            }
            .bind(host: host, port: port).wait()
    }
}

/// Numbers connections for CLIENT ID and HELLO, over every client loop.
private final class ConnectionIDs: Sendable {
    private let last = NIOLockedValueBox<Int64>(0)

    func next() -> Int64 {
        last.withLockedValue { last in
            // Wrapping, so that no count of connections can trap; 2^63 of them are not reached.
            last &+= 1
            return last
        }
    }
}
