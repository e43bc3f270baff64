import Foundation
import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumStorage
import QuorumWire
import Synchronization

/// A running Quorum node: its groups' storage opened and recovered, listening for peers and clients.
public final class QuorumNodeServer: Sendable {
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let host: NodeHost
    private let peerChannel: any Channel
    private let clientChannel: any Channel
    /// The HTTP/JSON API, when `configuration.httpPort` asks for it.
    private let httpFrontend: HTTPFrontend?
    /// The Redis-compatible port, when `configuration.redisPort` asks for it (docs/redis.md).
    private let redisChannel: (any Channel)?
    private let removal = RemovalLatch()

    /// Why the node stopped, if it learned that it was removed from the cluster; `wait()` returns then.
    public var removalReason: String? { removal.reason }

    /// Opens the data directory (refusing a second process on it), recovers every group, and starts listening.
    public init(configuration: ServerConfiguration) throws {
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = eventLoopGroup.next()
        let removal = removal
        let metrics = NodeMetrics(node: configuration.node)
        let host: NodeHost
        do {
            host = try loop.submit {
                let host = try NodeHost(loop: loop, configuration: configuration, metrics: metrics)
                host.onRemoved = { reason in removal.removed(reason) }
                return host
            }.wait()
        } catch {
            try? eventLoopGroup.syncShutdownGracefully()
            throw error
        }
        let frameBytesMax = configuration.frameBytesMax
        let address = configuration.address
        do {
            peerChannel = try Self.listen(
                eventLoopGroup, address.host, address.peerPort, configuration.peerFrameBytesMax
            ) {
                PeerInboundHandler(host: host)
            }
            clientChannel = try Self.listen(eventLoopGroup, address.host, address.clientPort, frameBytesMax) {
                ClientInboundHandler(host: host)
            }
            httpFrontend = try configuration.httpPort.map { port in
                try HTTPFrontend(host: host, eventLoopGroup: eventLoopGroup, address: address.host, port: port)
            }
            redisChannel = try configuration.redisPort.map { port in
                try RedisPort.listen(router: RedisRouter(host: host), host: address.host, port: port)
            }
        } catch {
            try? eventLoopGroup.syncShutdownGracefully()
            host.close()
            throw error
        }
        self.eventLoopGroup = eventLoopGroup
        self.host = host
        removal.closeOnRemoval(clientChannel)
        loop.execute { host.start() }
    }

    /// Accepts framed connections on `host:port`, each served by a fresh `handler()`.
    private static func listen<Handler: ChannelInboundHandler>(
        _ group: MultiThreadedEventLoopGroup, _ host: String, _ port: Int, _ frameBytesMax: Int,
        handler: @escaping @Sendable () -> Handler
    ) throws -> any Channel where Handler.InboundIn == Frame {
        try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addFrameHandlers(frameBytesMax: frameBytesMax, then: handler())
                }
            }
            .bind(host: host, port: port).wait()
    }

    /// Blocks until the listening sockets close: at shutdown, or when the node learns it was removed.
    public func wait() throws {
        try clientChannel.closeFuture.wait()
    }

    public func shutdown() throws {
        // HTTP first: its requests in flight are answered on the event loop, which must still be running.
        if let httpFrontend {
            let stopped = eventLoopGroup.next().makePromise(of: Void.self)
            stopped.completeWithTask { await httpFrontend.shutdown() }
            try stopped.futureResult.wait()
        }
        try peerChannel.close().wait()
        // Already closed if the node learned it was removed.
        if clientChannel.isActive { try clientChannel.close().wait() }
        try redisChannel?.close().wait()
        try eventLoopGroup.next().submit { self.host.peers.close() }.wait()
        try eventLoopGroup.syncShutdownGracefully()
        // After the loop has stopped: nothing persists any more.
        host.close()
    }
}

/// Learns, on the loop, that the node was removed from the cluster, and closes the client listener then so that
/// `wait()` returns: whichever comes first, the removal or the listener, the other finds it.
private final class RemovalLatch: Sendable {
    private let state = Mutex<(reason: String?, listener: (any Channel)?)>((nil, nil))

    var reason: String? { state.withLock { $0.reason } }

    func removed(_ reason: String) {
        let listener = state.withLock { state in
            state.reason = reason
            return state.listener
        }
        listener?.close(promise: nil)
    }

    func closeOnRemoval(_ listener: any Channel) {
        let removedAlready = state.withLock { state in
            state.listener = listener
            return state.reason != nil
        }
        if removedAlready { listener.close(promise: nil) }
    }
}
