/// Sends requests with the same affinity key to the same backend, moving as few keys as possible when backends
/// come and go, optionally with bounded load.
///
/// Use it when a backend keeps per-key state worth reusing: a cache, a session, a shard of data. The placement
/// decides the trade-offs (see ``HashRing``, ``MaglevTable``, ``RendezvousPlacement``). Requests without an
/// affinity key are placed by a random key.
///
/// The placement is rebuilt whenever the candidate set changes, including when health removes or restores a
/// backend; each placement moves only about 1/N of the keys for one change among N backends, so the keys of
/// healthy backends stay where they are.
public struct ConsistentHashingPolicy<Placement: HashPlacement>: LoadBalancingPolicy {
    public let configuration: Placement.Configuration
    /// nil for plain consistent hashing: every key goes to its first choice, however busy.
    public let boundedLoad: BoundedLoad?
    public private(set) var outstanding = OutstandingRequests()

    /// The placement and the candidate set it was built for. Invariant: `placement` is nil or built from `builtFor`.
    private var placement: Placement?
    private var builtFor: [Backend] = []

    public static var followsSlowStart: Bool { false }

    public init(configuration: Placement.Configuration, boundedLoad: BoundedLoad? = nil) {
        self.configuration = configuration
        self.boundedLoad = boundedLoad
    }

    public mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID? {
        guard !candidates.isEmpty else { return nil }
        let placement = placement(for: candidates)
        let key = request.affinityKey ?? RequestKey(random.next())
        guard let boundedLoad else { return placement.backend(for: key) }

        var inFlight = 1
        var totalWeight = 0.0
        var weights: [BackendID: Backend] = [:]
        weights.reserveCapacity(candidates.count)
        for candidate in candidates {
            inFlight += outstanding[candidate.id]
            totalWeight += candidate.weight.rawValue
            weights[candidate.id] = candidate
        }
        let chosen = placement.firstBackend(for: key) { id in
            guard let backend = weights[id] else { return false }
            let capacity = boundedLoad.capacity(of: backend, totalWeight: totalWeight, requestsInFlight: inFlight)
            return outstanding[id] + 1 <= capacity
        }
        // The capacities sum to at least c·m ≥ m while the candidates hold m − 1 requests, so some backend has
        // room, and every placement offers every backend.
        precondition(chosen != nil, "bounded load found no backend with room; capacities are miscomputed")
        return chosen
    }

    public mutating func requestStarted(on backend: BackendID, now: BalancerTime) {
        outstanding.started(on: backend)
    }

    public mutating func requestFinished(
        on backend: BackendID, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime
    ) {
        outstanding.finished(on: backend)
    }

    /// Where `key` lives among `candidates`, ignoring load; what ``pick(from:for:using:now:)`` returns without
    /// bounded load.
    public mutating func backend(for key: RequestKey, among candidates: [Backend]) -> BackendID? {
        guard !candidates.isEmpty else { return nil }
        return placement(for: candidates).backend(for: key)
    }

    private mutating func placement(for candidates: [Backend]) -> Placement {
        if let placement, builtFor == candidates { return placement }
        let built = Placement(backends: candidates, configuration: configuration)
        placement = built
        builtFor = candidates
        return built
    }
}

/// A ring with virtual nodes (Karger et al.; Envoy's `RING_HASH`).
public typealias RingHashPolicy = ConsistentHashingPolicy<HashRing>
/// Google's Maglev lookup table (Envoy's `MAGLEV`).
public typealias MaglevPolicy = ConsistentHashingPolicy<MaglevTable>
/// Weighted rendezvous (highest random weight) hashing.
public typealias RendezvousHashPolicy = ConsistentHashingPolicy<RendezvousPlacement>
