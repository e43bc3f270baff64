import NIOCore
import NIOHTTP1
import NIOPosix
import QuorumBalancing
import QuorumClient

/// A proxy in front of the instances of one registered service, in one of two modes:
/// - TCP: each accepted connection goes to the instance the policy picks (`TCPForwarder`);
/// - HTTP/1.1: each request does, over pooled keep-alive connections (`HTTPForwardingHandler`).
///
/// Both share the routing, the health checks, draining and the per-instance counters (`ProxyState`). The instance
/// set follows the registry by watch, without a restart. Everything runs on one event loop.
public final class ServiceProxy: Sendable {
    public enum Policy: String, Sendable, CaseIterable {
        case random, roundRobin = "round-robin", weighted = "weighted", leastOutstanding = "least-outstanding"
        case powerOfTwoChoices = "p2c", peakEWMA = "peak-ewma"
    }

    public enum Mode: String, Sendable, CaseIterable {
        case tcp, http
    }

    private let group: MultiThreadedEventLoopGroup
    private let listener: any Channel
    private let admin: (any Channel)?
    private let state: ProxyState
    private let watcher: Task<Void, Never>
    private let client: QuorumClient
    /// The counters as `ProxyStats`; call it on the proxy's loop.
    private let snapshot: @Sendable () -> ProxyStats

    public var port: Int { listener.localAddress?.port ?? 0 }
    /// The admin endpoint's port, if it was asked for.
    public var adminPort: Int? { admin?.localAddress?.port }

    /// Starts listening on `host:port` (0 for any free port) and following `service` in the cluster at `endpoints`.
    /// Every `checkInterval`, each instance is probed with `check`. With `adminPort`, serves `GET /stats` there on
    /// `host` (0 for any free port). In HTTP mode each instance gets at most `poolLimit` connections.
    public init(
        service: String, host: String, port: Int, endpoints: [String], policy: Policy, mode: Mode = .tcp,
        check: HealthCheck = .tcp, checkInterval: TimeAmount = .seconds(2), adminPort: Int? = nil,
        poolLimit: Int = 64, slowStart: TimeAmount? = nil
    ) async throws {
        // Off unless asked for, as HAProxy's `slowstart`: an instance that joins or comes back from failed checks
        // or ejection then starts at 10% of its weight and ramps up linearly over the window.
        let health = HealthConfiguration(
            slowStart: try slowStart.map {
                try SlowStart(window: .milliseconds(UInt64(max(1, $0.nanoseconds / 1_000_000))), minimumWeight: 10)
            })
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let routing: any ProxyRouting =
            switch policy {
            case .random: BalancedRouting(policy: RandomPolicy(), health: health)
            case .roundRobin: BalancedRouting(policy: RoundRobinPolicy(), health: health)
            case .weighted: BalancedRouting(policy: SmoothWeightedRoundRobinPolicy(), health: health)
            case .leastOutstanding: BalancedRouting(policy: LeastOutstandingRequestsPolicy(), health: health)
            case .powerOfTwoChoices: BalancedRouting(policy: PowerOfTwoChoicesPolicy(), health: health)
            case .peakEWMA: BalancedRouting(policy: PeakEWMAPolicy(), health: health)
            }
        let state = ProxyState(loop: loop, routing: routing, check: check, poolLimit: max(1, poolLimit))
        let client = QuorumClient(endpoints: endpoints)
        do {
            let updates = try await client.watchInstances(of: service)
            // The first update is the current set: serve nothing before it is known.
            var iterator = updates.makeAsyncIterator()
            if let initial = try await iterator.next() { try await loop.submit { state.update(initial) }.get() }
            self.watcher = Task {
                do {
                    while let instances = try await iterator.next() {
                        loop.execute { state.update(instances) }
                    }
                } catch {
                    // The registry connection is gone: keep serving the last known set.
                }
            }
            let forwarder = TCPForwarder(state: state)
            self.listener = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(ChannelOptions.autoRead, value: mode == .http)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        switch mode {
                        case .tcp:
                            forwarder.accept(channel)
                        case .http:
                            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                            try channel.pipeline.syncOperations.addHandler(HTTPForwardingHandler(state: state))
                        }
                    }
                }
                .bind(host: host, port: port).get()
            let snapshot: @Sendable () -> ProxyStats = {
                ProxyStats(service: service, mode: mode.rawValue, backends: state.stats())
            }
            self.snapshot = snapshot
            self.admin =
                if let adminPort {
                    try await ServerBootstrap(group: group)
                        .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                        .childChannelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                                try channel.pipeline.syncOperations.addHandler(AdminHandler(snapshot: snapshot))
                            }
                        }
                        .bind(host: host, port: adminPort).get()
                } else {
                    nil
                }
        } catch {
            await client.close()
            try? await group.shutdownGracefully()
            throw error
        }
        self.group = group
        self.state = state
        self.client = client
        let timeout = min(checkInterval, .seconds(1))
        loop.scheduleRepeatedTask(initialDelay: checkInterval, delay: checkInterval) { _ in
            state.checkInstances(timeout: timeout)
        }
    }

    /// What the proxy has done with each instance so far, and where each stands.
    public func stats() async throws -> ProxyStats {
        try await listener.eventLoop.submit(snapshot).get()
    }

    /// The instances that may receive requests now: healthy and not ejected.
    public func eligibleInstances() async throws -> Set<String> {
        try await listener.eventLoop.submit { self.state.eligibleInstances() }.get()
    }

    public func wait() async throws { try await listener.closeFuture.get() }

    public func shutdown() async throws {
        watcher.cancel()
        await client.close()
        try await admin?.close()
        try await listener.close()
        try await listener.eventLoop.submit { self.state.closePools() }.get()
        try await group.shutdownGracefully()
    }
}
