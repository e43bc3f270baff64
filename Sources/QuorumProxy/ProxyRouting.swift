import QuorumBalancing
import QuorumClient

/// Which instance gets the next connection: a `Balancer` over the registry's current instances. Confined to the
/// proxy's event loop.
protocol ProxyRouting: AnyObject {
    func update(_ instances: [ServiceInstance], now: BalancerTime)
    func pick(now: BalancerTime) -> (BackendID, address: String)?
    func finished(_ backend: BackendID, latency: BalancerDuration, succeeded: Bool, now: BalancerTime)
    /// Connections handed to each instance so far, by instance id.
    var connectionsByInstance: [String: Int] { get }
    /// Every instance known now, for active health checks.
    var targets: [(BackendID, address: String)] { get }
    func recordCheck(_ result: HealthCheckResult, for backend: BackendID, now: BalancerTime)
    /// The instances that may receive connections now (healthy, not ejected; all of them in panic).
    func eligibleInstances(now: BalancerTime) -> Set<String>
}

final class BalancedRouting<Policy: LoadBalancingPolicy>: ProxyRouting {
    private var balancer: Balancer<Policy>
    private var addresses: [BackendID: (instance: String, address: String)] = [:]
    private(set) var connectionsByInstance: [String: Int] = [:]
    private var random = SystemRandomNumberGenerator()
    /// Each instance keeps its backend id for the proxy's life, so its health and load survive updates.
    private var idsByInstance: [String: BackendID] = [:]

    init(policy: Policy) {
        // An empty backend set with the standard health settings cannot be refused.
        balancer = try! Balancer(backends: [], policy: policy)
    }

    func update(_ instances: [ServiceInstance], now: BalancerTime) {
        var backends: [Backend] = []
        addresses.removeAll()
        for instance in instances where instance.weight > 0 {
            let id = idsByInstance[instance.id] ?? BackendID(UInt64(idsByInstance.count + 1))
            idsByInstance[instance.id] = id
            guard addresses[id] == nil else { continue }
            addresses[id] = (instance.id, instance.address)
            backends.append(Backend(id: id, weight: Weight(Double(instance.weight))))
        }
        // Distinct ids are ensured above.
        try? balancer.updateBackends(backends, now: now)
    }

    func pick(now: BalancerTime) -> (BackendID, address: String)? {
        guard let id = balancer.pick(using: &random, now: now), let target = addresses[id] else { return nil }
        connectionsByInstance[target.instance, default: 0] += 1
        return (id, target.address)
    }

    var targets: [(BackendID, address: String)] { addresses.sorted { $0.key < $1.key }.map { ($0.key, $0.value.address) } }

    func recordCheck(_ result: HealthCheckResult, for backend: BackendID, now: BalancerTime) {
        balancer.recordCheck(result, for: backend, now: now)
    }

    func eligibleInstances(now: BalancerTime) -> Set<String> {
        Set(balancer.candidates(now: now).backends.compactMap { addresses[$0.id]?.instance })
    }

    func finished(_ backend: BackendID, latency: BalancerDuration, succeeded: Bool, now: BalancerTime) {
        balancer.requestFinished(on: backend, latency: latency, outcome: succeeded ? .success : .failure, now: now)
    }
}
