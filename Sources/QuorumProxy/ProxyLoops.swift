import NIOCore
import QuorumBalancing
import QuorumClient

/// The proxy's event loops, each with its own `ProxyState` (routing, balancer, counters, pools), so that the request
/// path takes no lock: a connection is served wholly by the state of the loop it was accepted on. What concerns
/// every loop goes to each on its own loop: registry updates, health-check verdicts, shutdown. The first loop's
/// state is the health owner: it runs the active checks (once per instance) and reports each instance's state.
final class ProxyLoops: Sendable {
    private let states: [ProxyState]
    private let byLoop: [ObjectIdentifier: ProxyState]
    private let check: HealthCheck

    /// The health owner.
    var owner: ProxyState { states[0] }

    /// One state per loop of `loops` (at least one), each with routing from `makeRouting`.
    init(loops: [any EventLoop], check: HealthCheck, poolLimit: Int, makeRouting: () -> any ProxyRouting) {
        precondition(!loops.isEmpty, "a proxy needs at least one event loop")
        states = loops.map { ProxyState(loop: $0, routing: makeRouting(), poolLimit: poolLimit) }
        byLoop = Dictionary(uniqueKeysWithValues: states.map { (ObjectIdentifier($0.loop), $0) })
        self.check = check
        for state in states { state.loops = self }
    }

    /// The state of the loop a channel runs on.
    func state(for loop: any EventLoop) -> ProxyState {
        guard let state = byLoop[ObjectIdentifier(loop)] else {
            preconditionFailure("a channel on an event loop that is not the proxy's")
        }
        return state
    }

    /// A registry update, applied on every loop in the order updates arrive, so that every loop's routing sees the
    /// same sequence and gives each instance the same backend id.
    func update(_ instances: [ServiceInstance]) -> EventLoopFuture<Void> {
        onEveryLoop { $0.update(instances) }.map { _ in }
    }

    /// Active health checks, on the owner's loop: one probe of every instance, its verdict delivered to every loop.
    func checkInstances(timeout: TimeAmount) {
        owner.loop.preconditionInEventLoop()
        for route in owner.routing.targets {
            check.probe(route, on: owner.loop, timeout: timeout).whenSuccess { passed in
                self.recordCheck(passed ? .passed : .failed, for: route.id)
            }
        }
    }

    /// A connect to an instance failed on one loop. Every loop counts it as a failed check, as HAProxy does with
    /// `observe layer4` (`on-error fail-check`): a loop's own outlier detection sees only its own requests, and
    /// the others would otherwise each have to fail on the instance before leaving it.
    func connectFailed(to route: Route) {
        recordCheck(.failed, for: route.id)
    }

    /// Every loop's routing gives an instance the same backend id: each sees the same updates in the same order.
    private func recordCheck(_ result: HealthCheckResult, for backend: BackendID) {
        for state in states {
            state.loop.execute { state.recordCheck(result, for: backend) }
        }
    }

    /// The instances that may receive requests now: those eligible on any loop.
    func eligibleInstances() -> EventLoopFuture<Set<String>> {
        onEveryLoop { $0.eligibleInstances() }.map { $0.reduce(into: []) { $0.formUnion($1) } }
    }

    /// Every loop's counters, summed per instance; an instance's state is the health owner's view of it, or (once
    /// the owner has forgotten a drained instance) that of a loop where it still has requests in flight.
    func stats() -> EventLoopFuture<[String: BackendStats]> {
        // `onEveryLoop` keeps the order of `states`: the owner's stats come first.
        onEveryLoop { $0.stats() }.map { perLoop in
            perLoop.reduce(into: [:]) { total, stats in
                total.merge(stats) { ours, theirs in ours.adding(theirs) }
            }
        }
    }

    /// Closes every pooled connection, at shutdown.
    func closePools() -> EventLoopFuture<Void> {
        onEveryLoop { $0.closePools() }.map { _ in }
    }

    /// Runs `body` with each state on its loop; the results come in the order of `states`, on the owner's loop.
    private func onEveryLoop<Result: Sendable>(
        _ body: @escaping @Sendable (ProxyState) -> Result
    ) -> EventLoopFuture<[Result]> {
        EventLoopFuture.whenAllSucceed(states.map { state in state.loop.submit { body(state) } }, on: owner.loop)
    }
}

extension BackendStats {
    /// This instance's counts plus another loop's; address and state stay this one's.
    func adding(_ other: BackendStats) -> BackendStats {
        var sum = self
        sum.active += other.active
        sum.total += other.total
        sum.failures += other.failures
        sum.bytesSent += other.bytesSent
        sum.bytesReceived += other.bytesReceived
        return sum
    }
}
