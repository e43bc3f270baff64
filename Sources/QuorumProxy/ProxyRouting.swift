import QuorumBalancing
import QuorumClient

/// Where a request or connection goes: one instance of the service.
struct Route: Hashable, Sendable {
    var id: BackendID
    var instance: String
    var host: String
    var port: Int

    var address: String { "\(host):\(port)" }

    /// Parses a registry entry's HOST:PORT; nil for an address no connect could use.
    init?(id: BackendID, instance: ServiceInstance) {
        let parts = instance.address.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65_535).contains(port) else { return nil }
        self.id = id
        self.instance = instance.id
        self.host = String(parts[0])
        self.port = port
    }
}

/// Which instance gets the next request (TCP: connection): a `Balancer` over the registry's current instances,
/// and the per-instance counters both proxy modes report. Confined to one of the proxy's event loops (one per loop).
protocol ProxyRouting: AnyObject {
    /// Replaces the instance set; returns the routes that left it, so their pooled connections can be drained.
    func update(_ instances: [ServiceInstance], now: BalancerTime) -> [Route]
    /// Picks a route and counts a request as started on it, avoiding `excluded` (routes that already failed this
    /// request) unless nothing else is left.
    func pick(excluding excluded: [BackendID], now: BalancerTime) -> Route?
    /// Ends a request picked by `pick`, exactly once per pick: `.failure` if the instance could not be reached or
    /// answered badly, `.cancelled` if the client gave up.
    func finished(_ route: Route, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime)
    func recordBytes(sent: Int, received: Int, on backend: BackendID)
    /// Every instance known now, for active health checks.
    var targets: [Route] { get }
    func recordCheck(_ result: HealthCheckResult, for backend: BackendID, now: BalancerTime)
    /// The instances that may receive requests now (healthy, not ejected; all of them in panic).
    func eligibleInstances(now: BalancerTime) -> Set<String>
    func stats(now: BalancerTime) -> [String: BackendStats]
}

final class BalancedRouting<Policy: LoadBalancingPolicy>: ProxyRouting {
    private var balancer: Balancer<Policy>
    /// The registered instances, by backend id.
    private var routes: [BackendID: Route] = [:]
    /// Registered instances and removed ones with requests still in flight (draining).
    private var counters: [BackendID: (route: Route, counts: BackendCounters)] = [:]
    private var random = SystemRandomNumberGenerator()
    /// Each instance keeps its backend id for the proxy's life, so its health and load survive updates.
    private var idsByInstance: [String: BackendID] = [:]

    init(policy: Policy, health: HealthConfiguration) {
        // An empty backend set cannot be refused: only duplicate backends are.
        balancer = try! Balancer(backends: [], policy: policy, health: health)
    }

    func update(_ instances: [ServiceInstance], now: BalancerTime) -> [Route] {
        var backends: [Backend] = []
        let previous = routes
        routes.removeAll()
        for instance in instances where instance.weight > 0 {
            let id = idsByInstance[instance.id] ?? BackendID(UInt64(idsByInstance.count + 1))
            idsByInstance[instance.id] = id
            guard routes[id] == nil, let route = Route(id: id, instance: instance) else { continue }
            routes[id] = route
            counters[id, default: (route, BackendCounters())].route = route
            backends.append(Backend(id: id, weight: Weight(Double(instance.weight))))
        }
        // Distinct ids are ensured above.
        try? balancer.updateBackends(backends, now: now)
        // A route that changed address is gone too: its pooled connections lead to the old address.
        let removed = previous.values.filter { routes[$0.id] != $0 }
        for route in removed { forgetIfDrained(route.id) }
        return removed
    }

    func pick(excluding excluded: [BackendID], now: BalancerTime) -> Route? {
        // The policy knows nothing of exclusions: ask again, handing back picks of excluded routes as cancelled,
        // once per excluded route at most. If the policy keeps choosing them, its last choice stands.
        var skipped: [BackendID] = []
        defer { for id in skipped { balancer.requestFinished(on: id, latency: 0, outcome: .cancelled, now: now) } }
        guard var id = balancer.pick(using: &random, now: now) else { return nil }
        let excluded = Set(excluded)
        while excluded.contains(id) && skipped.count < excluded.count && excluded.count < routes.count {
            skipped.append(id)
            guard let next = balancer.pick(using: &random, now: now) else { return nil }
            id = next
        }
        guard let route = routes[id] else {
            balancer.requestFinished(on: id, latency: 0, outcome: .cancelled, now: now)
            return nil
        }
        counters[id]?.counts.active += 1
        counters[id]?.counts.total += 1
        return route
    }

    func finished(_ route: Route, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime) {
        balancer.requestFinished(on: route.id, latency: latency, outcome: outcome, now: now)
        counters[route.id]?.counts.active -= 1
        if outcome == .failure { counters[route.id]?.counts.failures += 1 }
        forgetIfDrained(route.id)
    }

    func recordBytes(sent: Int, received: Int, on backend: BackendID) {
        counters[backend]?.counts.bytesSent += sent
        counters[backend]?.counts.bytesReceived += received
    }

    var targets: [Route] { routes.values.sorted { $0.id < $1.id } }

    func recordCheck(_ result: HealthCheckResult, for backend: BackendID, now: BalancerTime) {
        balancer.recordCheck(result, for: backend, now: now)
    }

    func eligibleInstances(now: BalancerTime) -> Set<String> {
        Set(balancer.candidates(now: now).backends.compactMap { routes[$0.id]?.instance })
    }

    func stats(now: BalancerTime) -> [String: BackendStats] {
        var result: [String: BackendStats] = [:]
        for (id, entry) in counters {
            let state: BackendStats.State =
                if routes[id] == nil {
                    .draining
                } else {
                    switch balancer.health.status(of: id, now: now) {
                    case .healthy: .healthy
                    case .ejected: .ejected
                    case .failingChecks: .failingChecks
                    }
                }
            result[entry.route.instance] = entry.counts.stats(address: entry.route.address, state: state)
        }
        return result
    }

    /// A removed instance stays in the stats as draining until its last request ends.
    private func forgetIfDrained(_ id: BackendID) {
        if routes[id] == nil, counters[id]?.counts.active == 0 { counters[id] = nil }
    }
}
