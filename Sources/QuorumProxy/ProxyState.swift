import NIOCore
import QuorumBalancing
import QuorumClient

/// What both proxy modes share, confined to the proxy's event loop: the routing and its counters, the clock the
/// balancer reads, active health checks, and (HTTP mode) the connection pools that draining closes.
final class ProxyState: @unchecked Sendable {
    // @unchecked Sendable: everything mutable is used only on `loop` (every entry point runs there).
    let loop: any EventLoop
    let routing: any ProxyRouting
    private let check: HealthCheck
    private let started = NIODeadline.now()
    /// Keep-alive connections to each instance, created by the first HTTP request to it.
    private var pools: [BackendID: BackendPool] = [:]
    /// Connections kept per instance; requests beyond it wait for one to come free.
    private let poolLimit: Int

    init(loop: any EventLoop, routing: any ProxyRouting, check: HealthCheck, poolLimit: Int) {
        self.loop = loop
        self.routing = routing
        self.check = check
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

    /// Active health checks: one probe of every instance.
    func checkInstances(timeout: TimeAmount) {
        loop.preconditionInEventLoop()
        for route in routing.targets {
            check.probe(route, on: loop, timeout: timeout).whenSuccess { passed in
                self.routing.recordCheck(passed ? .passed : .failed, for: route.id, now: self.now)
            }
        }
    }

    /// Closes every pooled connection, at shutdown.
    func closePools() {
        loop.preconditionInEventLoop()
        for pool in pools.values { pool.drain() }
        pools.removeAll()
    }
}
