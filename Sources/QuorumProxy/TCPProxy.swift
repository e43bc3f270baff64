import NIOCore
import NIOPosix
import QuorumBalancing
import QuorumClient

/// A TCP proxy in front of the instances of one registered service: each accepted connection goes to the
/// instance the policy picks, and a failed connect is retried on another (the failure feeds outlier ejection).
/// The instance set follows the registry by watch, without a restart.
public final class TCPProxy: Sendable {
    public enum Policy: String, Sendable, CaseIterable {
        case random, roundRobin = "round-robin", weighted = "weighted", leastOutstanding = "least-outstanding"
        case powerOfTwoChoices = "p2c", peakEWMA = "peak-ewma"
    }

    private let group: MultiThreadedEventLoopGroup
    private let listener: any Channel
    private let state: ProxyState
    private let watcher: Task<Void, Never>
    private let client: QuorumClient

    public var port: Int { listener.localAddress?.port ?? 0 }

    /// Starts listening on `host:port` (0 for any free port) and following `service` in the cluster at `endpoints`.
    /// Every `checkInterval`, each instance is checked with a TCP connect (HAProxy's thresholds: 3 failures
    /// take it out, 2 successes bring it back).
    public init(
        service: String, host: String, port: Int, endpoints: [String], policy: Policy,
        checkInterval: TimeAmount = .seconds(2)
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let routing: any ProxyRouting =
            switch policy {
            case .random: BalancedRouting(policy: RandomPolicy())
            case .roundRobin: BalancedRouting(policy: RoundRobinPolicy())
            case .weighted: BalancedRouting(policy: SmoothWeightedRoundRobinPolicy())
            case .leastOutstanding: BalancedRouting(policy: LeastOutstandingRequestsPolicy())
            case .powerOfTwoChoices: BalancedRouting(policy: PowerOfTwoChoicesPolicy())
            case .peakEWMA: BalancedRouting(policy: PeakEWMAPolicy())
            }
        let state = ProxyState(loop: loop, routing: routing)
        let client = QuorumClient(endpoints: endpoints)
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
        self.listener = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { state.accept(channel) }
            }
            .bind(host: host, port: port).get()
        self.group = group
        self.state = state
        self.client = client
        loop.scheduleRepeatedTask(initialDelay: checkInterval, delay: checkInterval) { _ in state.checkInstances() }
    }

    /// Connections handed to each instance so far, by instance id.
    public func connectionsByInstance() async throws -> [String: Int] {
        try await listener.eventLoop.submit { self.state.routing.connectionsByInstance }.get()
    }

    /// The instances that may receive connections now: healthy and not ejected.
    public func eligibleInstances() async throws -> Set<String> {
        try await listener.eventLoop.submit { self.state.eligibleInstances() }.get()
    }

    public func wait() async throws { try await listener.closeFuture.get() }

    public func shutdown() async throws {
        watcher.cancel()
        await client.close()
        try await listener.close()
        try await group.shutdownGracefully()
    }
}

/// The proxy's mutable state, confined to its event loop.
final class ProxyState: @unchecked Sendable {
    // @unchecked Sendable: `routing` is used only on `loop` (every entry point runs there).
    let loop: any EventLoop
    let routing: any ProxyRouting
    private let started = NIODeadline.now()
    /// Instances tried per connection before giving up on it.
    private let attemptsMax = 3

    init(loop: any EventLoop, routing: any ProxyRouting) {
        self.loop = loop
        self.routing = routing
    }

    private var now: BalancerTime { BalancerTime(microseconds: UInt64((NIODeadline.now() - started).nanoseconds / 1_000)) }

    func update(_ instances: [ServiceInstance]) {
        loop.preconditionInEventLoop()
        routing.update(instances, now: now)
    }

    func accept(_ inbound: any Channel) {
        loop.preconditionInEventLoop()
        connect(inbound, attempt: 1)
    }

    private func connect(_ inbound: any Channel, attempt: Int) {
        guard let (backend, address) = routing.pick(now: now) else {
            inbound.close(promise: nil)
            return
        }
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else {
            routing.finished(backend, latency: 0, succeeded: false, now: now)
            retryOrClose(inbound, attempt: attempt)
            return
        }
        let begin = NIODeadline.now()
        ClientBootstrap(group: inbound.eventLoop)
            .channelOption(ChannelOptions.autoRead, value: false)
            .connectTimeout(.seconds(2))
            .connect(host: String(parts[0]), port: port)
            .whenComplete { result in
                switch result {
                case .success(let outbound):
                    self.glue(inbound, outbound, backend: backend, begin: begin)
                case .failure:
                    self.routing.finished(backend, latency: 0, succeeded: false, now: self.now)
                    self.retryOrClose(inbound, attempt: attempt)
                }
            }
    }

    func eligibleInstances() -> Set<String> {
        loop.preconditionInEventLoop()
        return routing.eligibleInstances(now: now)
    }

    /// Active health checks: a TCP connect to every instance, closed at once.
    func checkInstances() {
        loop.preconditionInEventLoop()
        for (backend, address) in routing.targets {
            let parts = address.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else {
                routing.recordCheck(.failed, for: backend, now: now)
                continue
            }
            ClientBootstrap(group: loop).connectTimeout(.seconds(1)).connect(host: String(parts[0]), port: port)
                .whenComplete { result in
                    switch result {
                    case .success(let channel):
                        channel.close(promise: nil)
                        self.routing.recordCheck(.passed, for: backend, now: self.now)
                    case .failure:
                        self.routing.recordCheck(.failed, for: backend, now: self.now)
                    }
                }
        }
    }

    private func retryOrClose(_ inbound: any Channel, attempt: Int) {
        if attempt < attemptsMax {
            connect(inbound, attempt: attempt + 1)
        } else {
            inbound.close(promise: nil)
        }
    }

    private func glue(_ inbound: any Channel, _ outbound: any Channel, backend: BackendID, begin: NIODeadline) {
        let (inboundGlue, outboundGlue) = GlueHandler.pair()
        do {
            try inbound.pipeline.syncOperations.addHandler(inboundGlue)
            try outbound.pipeline.syncOperations.addHandler(outboundGlue)
        } catch {
            inbound.close(promise: nil)
            outbound.close(promise: nil)
            return
        }
        inbound.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        outbound.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        outbound.closeFuture.whenComplete { _ in
            let latency = BalancerDuration(microseconds: UInt64((NIODeadline.now() - begin).nanoseconds / 1_000))
            self.routing.finished(backend, latency: latency, succeeded: true, now: self.now)
        }
    }
}
