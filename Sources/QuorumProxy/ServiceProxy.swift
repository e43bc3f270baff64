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
/// set follows the registry by watch, without a restart. It runs one event loop per core (`ProxyLoops`): accepted
/// connections are spread over them, and each loop has its own routing and pools, so requests take no lock.
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
    private let loops: ProxyLoops
    private let watcher: Task<Void, Never>
    private let client: QuorumClient
    /// The counters of all loops as `ProxyStats`.
    private let snapshot: @Sendable () -> EventLoopFuture<ProxyStats>

    public var port: Int { listener.localAddress?.port ?? 0 }
    /// The admin endpoint's port, if it was asked for.
    public var adminPort: Int? { admin?.localAddress?.port }

    /// Starts listening on `host:port` (0 for any free port) and following `service` in the cluster at `endpoints`,
    /// on `threads` event loops (by default one per core). Every `checkInterval`, each instance is probed with
    /// `check`. With `adminPort`, serves `GET /stats` there on `host` (0 for any free port). In HTTP mode each
    /// instance gets at most `poolLimit` connections from each loop.
    public init(
        service: String, host: String, port: Int, endpoints: [String], policy: Policy, mode: Mode = .tcp,
        check: HealthCheck = .tcp, checkInterval: TimeAmount = .seconds(2), adminPort: Int? = nil,
        poolLimit: Int = 64, slowStart: TimeAmount? = nil, threads: Int? = nil
    ) async throws {
        // Off unless asked for, as HAProxy's `slowstart`: an instance that joins or comes back from failed checks
        // or ejection then starts at 10% of its weight and ramps up linearly over the window.
        let health = HealthConfiguration(
            slowStart: try slowStart.map {
                try SlowStart(window: .milliseconds(UInt64(max(1, $0.nanoseconds / 1_000_000))), minimumWeight: 10)
            })
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads ?? System.coreCount))
        let loops = ProxyLoops(
            loops: Array(group.makeIterator()), check: check, poolLimit: max(1, poolLimit),
            makeRouting: { () -> any ProxyRouting in
                switch policy {
                case .random: BalancedRouting(policy: RandomPolicy(), health: health)
                case .roundRobin: BalancedRouting(policy: RoundRobinPolicy(), health: health)
                case .weighted: BalancedRouting(policy: SmoothWeightedRoundRobinPolicy(), health: health)
                case .leastOutstanding: BalancedRouting(policy: LeastOutstandingRequestsPolicy(), health: health)
                case .powerOfTwoChoices: BalancedRouting(policy: PowerOfTwoChoicesPolicy(), health: health)
                case .peakEWMA: BalancedRouting(policy: PeakEWMAPolicy(), health: health)
                }
            })
        let client = QuorumClient(endpoints: endpoints)
        do {
            let updates = try await client.watchInstances(of: service)
            // The first update is the current set: serve nothing before every loop knows it.
            var iterator = updates.makeAsyncIterator()
            if let initial = try await iterator.next() { try await loops.update(initial).get() }
            self.watcher = Task {
                do {
                    while let instances = try await iterator.next() {
                        _ = loops.update(instances)
                    }
                } catch {
                    // The registry connection is gone: keep serving the last known set.
                }
            }
            // Each accepted connection goes to the next loop, and is served by that loop's state alone.
            self.listener = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(ChannelOptions.autoRead, value: mode == .http)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let state = loops.state(for: channel.eventLoop)
                        switch mode {
                        case .tcp:
                            try channel.pipeline.syncOperations.addHandler(TCPForwarder(state: state))
                        case .http:
                            try channel.pipeline.syncOperations.addHandler(HTTPForwardingHandler(state: state))
                        }
                    }
                }
                .bind(host: host, port: port).get()
            let snapshot: @Sendable () -> EventLoopFuture<ProxyStats> = {
                loops.stats().map { ProxyStats(service: service, mode: mode.rawValue, backends: $0) }
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
        self.loops = loops
        self.client = client
        let timeout = min(checkInterval, .seconds(1))
        loops.owner.loop.scheduleRepeatedTask(initialDelay: checkInterval, delay: checkInterval) { _ in
            loops.checkInstances(timeout: timeout)
        }
    }

    /// What the proxy has done with each instance so far, over all its loops, and where each stands.
    public func stats() async throws -> ProxyStats {
        try await snapshot().get()
    }

    /// The instances that may receive requests now: healthy and not ejected.
    public func eligibleInstances() async throws -> Set<String> {
        try await loops.eligibleInstances().get()
    }

    public func wait() async throws { try await listener.closeFuture.get() }

    public func shutdown() async throws {
        watcher.cancel()
        await client.close()
        try await admin?.close()
        try await listener.close()
        try await loops.closePools().get()
        try await group.shutdownGracefully()
    }
}
