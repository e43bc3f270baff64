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
    /// The client port's and the HTTP API's connections: their bytes are read, decoded and written here, so that
    /// clients never hold up the node's loop (ticks, peers, fsync completions).
    private let clientLoops: MultiThreadedEventLoopGroup
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
        let clientLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
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
        let listenHost = configuration.listenHost ?? address.host
        do {
            let strangers = ConnectionGate(
                limit: configuration.peerStrangersMax, refused: metrics.peerStrangersRefused)
            peerChannel = try Self.binding("peer", listenHost, address.peerPort) {
                try Self.listen(
                    eventLoopGroup, listenHost, address.peerPort, configuration.peerFrameBytesMax, gate: strangers,
                    tls: host.tls
                ) {
                    PeerInboundHandler(host: host)
                }
            }
            let clientGate = ConnectionGate(
                limit: configuration.connectionsMax, refused: metrics.clientConnectionsRefused)
            let unfinished = UnfinishedFrameBudget(bytesMax: configuration.unfinishedRequestBytesMax) {
                metrics.unfinishedRequestsRefused.increment()
            }
            clientChannel = try Self.binding("client", listenHost, address.clientPort) {
                try Self.listen(
                    clientLoops, listenHost, address.clientPort, frameBytesMax, gate: clientGate, budget: unfinished,
                    tls: host.clientTLS
                ) {
                    ClientInboundHandler(host: host)
                }
            }
            httpFrontend = try configuration.httpPort.map { port in
                try Self.binding("HTTP", listenHost, port) {
                    try HTTPFrontend(
                        host: host, eventLoopGroup: clientLoops, address: listenHost, port: port,
                        tls: configuration.clientTLS)
                }
            }
            redisChannel = try configuration.redisPort.map { port in
                try Self.binding("Redis", listenHost, port) {
                    try RedisPort.listen(
                        router: RedisRouter(host: host), on: clientLoops, host: listenHost, port: port,
                        gate: ConnectionGate(
                            limit: configuration.connectionsMax, refused: metrics.clientConnectionsRefused,
                            refusal: Array("-ERR max number of clients reached\r\n".utf8)))
                }
            }
        } catch {
            try? clientLoops.syncShutdownGracefully()
            try? eventLoopGroup.syncShutdownGracefully()
            host.close()
            throw error
        }
        self.eventLoopGroup = eventLoopGroup
        self.clientLoops = clientLoops
        self.host = host
        removal.closeOnRemoval(clientChannel)
        loop.execute { host.start() }
    }

    /// Runs `bind`, and names the port and address in its failure: NIO's own message names neither.
    private static func binding<Bound>(
        _ port: String, _ host: String, _ number: Int, _ bind: () throws -> Bound
    ) throws -> Bound {
        do {
            return try bind()
        } catch {
            throw ConfigurationError(
                "cannot listen for \(port) connections on \(host):\(number) (\(error)); is the port taken by another "
                    + "process, or is \(host) not an address of this machine (see --listen-host)?")
        }
    }

    /// Accepts framed connections on `host:port`, each served by a fresh `handler()`, as many at once as `gate`
    /// admits (peers: as many strangers, those past their hello no longer count).
    private static func listen<Handler: ChannelInboundHandler>(
        _ group: MultiThreadedEventLoopGroup, _ host: String, _ port: Int, _ frameBytesMax: Int,
        gate: ConnectionGate? = nil, budget: UnfinishedFrameBudget? = nil, tls: (any ServerTLS)? = nil,
        handler: @escaping @Sendable () -> Handler
    ) throws -> any Channel where Handler.InboundIn == Frame {
        try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let gate { try channel.pipeline.syncOperations.addHandler(gate.handler()) }
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls.serverHandler()) }
                    try channel.pipeline.syncOperations.addFrameHandlers(
                        frameBytesMax: frameBytesMax, budget: budget, then: handler())
                }
            }
            .bind(host: host, port: port).wait()
    }

    /// Blocks until the listening sockets close: at shutdown, when the node learns it was removed, or after
    /// `stopAccepting()`.
    public func wait() throws {
        try clientChannel.closeFuture.wait()
    }

    /// Stops accepting client connections, so that `wait()` returns and the caller can shut down gracefully (a
    /// signal handler calls it). Callable from any thread.
    public func stopAccepting() {
        clientChannel.close(promise: nil)
    }

    public func shutdown() throws {
        try closeListeners()
        try close()
    }

    /// Shuts down as etcd does on SIGTERM: stops accepting clients, hands the leadership of every group this node
    /// leads to its most caught-up other voter, lets the requests in flight complete (a write this node proposed
    /// commits through the new leader and is answered here once applied) and refuses, as unavailable, what is still
    /// waiting after `drainTimeout`, then closes its connections and flushes its storage.
    /// - Parameter report: told of each handover started, for the operator.
    public func shutDownGracefully(report: (String) -> Void) throws {
        try closeListeners()
        let loop = eventLoopGroup.next()
        let host = host
        let tick = TimeAmount.milliseconds(host.configuration.tickMilliseconds)
        // Long enough for a handover (catch the target up, TimeoutNow, one election) and the answers it unblocks;
        // a transfer the engine gives up on after an election timeout is asked for again meanwhile.
        let deadline = NIODeadline.now() + tick * Int64(4 * NodeHost.livenessTimeoutTicks)
        var handedOver: Set<GroupID> = []
        while true {
            let (started, drained) = try loop.submit { (host.handOverLeadership(), host.isDrained) }.wait()
            for (group, target) in started where handedOver.insert(group).inserted {
                report("handing the leadership of group \(group.rawValue) to node \(target.rawValue)")
            }
            if drained || NIODeadline.now() > deadline { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        try loop.submit {
            host.refuseWaiting(
                "node \(host.configuration.node.rawValue) shut down before the request completed; its outcome is "
                    + "unknown: retry (a write retried with the same session applies once)")
        }.wait()
        try close()
    }

    /// HTTP first: its requests in flight are answered on the event loop, which must still be running.
    private func closeListeners() throws {
        if let httpFrontend {
            let stopped = clientLoops.next().makePromise(of: Void.self)
            stopped.completeWithTask { await httpFrontend.shutdown() }
            try stopped.futureResult.wait()
        }
        // Already closed if the node learned it was removed, or was asked to stop accepting.
        if clientChannel.isActive { try clientChannel.close().wait() }
        if let redisChannel, redisChannel.isActive { try redisChannel.close().wait() }
    }

    private func close() throws {
        try peerChannel.close().wait()
        try eventLoopGroup.next().submit { self.host.peers.close() }.wait()
        try eventLoopGroup.syncShutdownGracefully()
        try clientLoops.syncShutdownGracefully()
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
