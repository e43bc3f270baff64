import Foundation
import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumStorage
import QuorumWire
import Synchronization

/// A running Quorum node: storage opened and recovered, one consensus group, listening for peers and clients.
public final class QuorumNodeServer: Sendable {
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let storage: FileNodeStorage
    private let runtime: NodeRuntime
    private let transport: PeerTransport
    private let peerChannel: any Channel
    private let clientChannel: any Channel
    /// The HTTP/JSON API, when `configuration.httpPort` asks for it.
    private let httpFrontend: HTTPFrontend?
    /// The Redis-compatible port, when `configuration.redisPort` asks for it (docs/redis.md).
    private let redisChannel: (any Channel)?
    private let removal = RemovalLatch()

    /// Why the node stopped, if it learned that it was removed from the cluster; `wait()` returns then.
    public var removalReason: String? { removal.reason }

    /// Opens the data directory (refusing a second process on it), recovers, and starts listening.
    public init(configuration: ServerConfiguration) throws {
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = eventLoopGroup.next()
        let box = RuntimeBox()
        let removal = removal
        let group = GroupID(1)
        let metrics = NodeMetrics(node: configuration.node)
        let storage: FileNodeStorage
        let identity: ClusterIdentity
        do {
            // One storage directory (log, snapshots, lock) per consensus group, so that a node can host many.
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            let io = TimedFileIO(io: PosixFileIO(), syncDuration: metrics.walFsyncDuration)
            storage = try FileNodeStorage(
                path: configuration.dataDirectory + "/group-\(group.rawValue)",
                options: FileNodeStorage.Options(writeAheadLog: WriteAheadLog.Options(io: io)),
                onDurable: { readyNumber in loop.execute { box.runtime?.persisted(readyNumber: readyNumber) } },
                onFailure: { error in loop.execute { box.runtime?.storageFailed(error) } })
        } catch {
            try? eventLoopGroup.syncShutdownGracefully()
            throw error
        }
        do {
            // Checked under the directory's lock, before anything is recovered into an engine.
            identity = try ClusterIdentity.establish(in: storage.directory, for: configuration)
        } catch {
            storage.close()
            try? eventLoopGroup.syncShutdownGracefully()
            throw error
        }
        let transport = PeerTransport(
            loop: loop, node: configuration.node, group: group, members: configuration.members,
            frameBytesMax: configuration.peerFrameBytesMax,
            hello: PeerHello(
                node: configuration.node, redisPort: configuration.redisPort, httpPort: configuration.httpPort,
                clusterID: identity.clusterID))
        let runtime = try loop.submit {
            let runtime = try NodeRuntime(
                loop: loop, group: group, configuration: configuration, identity: identity, storage: storage,
                transport: transport, metrics: metrics)
            runtime.onRemoved = { reason in removal.removed(reason) }
            return runtime
        }.wait()
        box.runtime = runtime
        let frameBytesMax = configuration.frameBytesMax
        let address = configuration.address
        do {
            peerChannel = try Self.listen(
                eventLoopGroup, address.host, address.peerPort, configuration.peerFrameBytesMax
            ) {
                PeerInboundHandler(runtime: runtime)
            }
            clientChannel = try Self.listen(eventLoopGroup, address.host, address.clientPort, frameBytesMax) {
                ClientInboundHandler(runtime: runtime)
            }
            httpFrontend = try configuration.httpPort.map { port in
                try HTTPFrontend(runtime: runtime, eventLoopGroup: eventLoopGroup, host: address.host, port: port)
            }
            redisChannel = try configuration.redisPort.map { port in
                try RedisPort.listen(runtime: runtime, host: address.host, port: port)
            }
        } catch {
            storage.close()
            try? eventLoopGroup.syncShutdownGracefully()
            throw error
        }
        self.eventLoopGroup = eventLoopGroup
        self.storage = storage
        self.runtime = runtime
        self.transport = transport
        removal.closeOnRemoval(clientChannel)
        loop.execute { runtime.start() }
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
        try eventLoopGroup.next().submit { self.transport.close() }.wait()
        try eventLoopGroup.syncShutdownGracefully()
        storage.close()
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

/// Lets storage callbacks, created before the runtime, reach it once it exists.
private final class RuntimeBox: @unchecked Sendable {
    // @unchecked Sendable: written once on the creating thread before any callback can fire, read on the loop.
    var runtime: NodeRuntime?
}
