import NIOCore
import QuorumBalancing
import QuorumClient

/// What both proxy modes share on one of the proxy's event loops, confined to it: the routing and its counters,
/// the clock the balancer reads, and (HTTP mode) the connection pools that draining closes. `ProxyLoops` keeps one
/// per loop.
final class ProxyState: @unchecked Sendable {
    // @unchecked Sendable: everything mutable is used only on `loop` (every entry point runs there).
    let loop: any EventLoop
    let routing: any ProxyRouting
    /// All the proxy's loops, told of failed connects; set once by `ProxyLoops` before the proxy serves.
    weak var loops: ProxyLoops?
    private let started = NIODeadline.now()
    /// Keep-alive connections to each instance, created by the first HTTP request to it.
    private var pools: [BackendID: BackendPool] = [:]
    /// Connections kept per instance; requests beyond it wait for one to come free.
    private let poolLimit: Int

    init(loop: any EventLoop, routing: any ProxyRouting, poolLimit: Int) {
        self.loop = loop
        self.routing = routing
        self.poolLimit = poolLimit
    }

    var now: BalancerTime { BalancerTime(microseconds: UInt64((NIODeadline.now() - started).nanoseconds / 1_000)) }

    func duration(since begin: NIODeadline) -> BalancerDuration {
        BalancerDuration(microseconds: UInt64(max(0, (NIODeadline.now() - begin).nanoseconds) / 1_000))
    }

    /// A registry update. Removed instances drain: the balancer stops picking them at once, their idle pooled
    /// connections close now and busy ones after their response; TCP connections run until they end.
    func update(_ instances: [ServiceInstance]) {
        loop.preconditionInEventLoop()
        for route in routing.update(instances, now: now) {
            pools.removeValue(forKey: route.id)?.drain()
        }
    }

    func pool(for route: Route) -> BackendPool {
        loop.preconditionInEventLoop()
        if let pool = pools[route.id] { return pool }
        let pool = BackendPool(route: route, state: self, limit: poolLimit)
        pools[route.id] = pool
        return pool
    }

    func eligibleInstances() -> Set<String> {
        loop.preconditionInEventLoop()
        return routing.eligibleInstances(now: now)
    }

    func stats() -> [String: BackendStats] {
        loop.preconditionInEventLoop()
        return routing.stats(now: now)
    }

    /// A connect to `route` failed: every loop hears of it (`ProxyLoops.connectFailed(to:)`).
    func connectFailed(to route: Route) {
        loops?.connectFailed(to: route)
    }

    /// The verdict of a health check of one instance.
    func recordCheck(_ result: HealthCheckResult, for backend: BackendID) {
        loop.preconditionInEventLoop()
        routing.recordCheck(result, for: backend, now: now)
    }

    /// Closes every pooled connection, at shutdown.
    func closePools() {
        loop.preconditionInEventLoop()
        for pool in pools.values { pool.drain() }
        pools.removeAll()
    }
}
