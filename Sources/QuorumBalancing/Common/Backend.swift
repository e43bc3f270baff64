/// A backend as a policy sees it: who it is and how much traffic it should get right now.
///
/// The weight a policy receives is the *effective* weight: the configured one, reduced while the backend is in
/// slow start (see ``HealthTracker``).
public struct Backend: Hashable, Sendable, CustomStringConvertible {
    public var id: BackendID
    public var weight: Weight

    public init(id: BackendID, weight: Weight = .one) {
        self.id = id
        self.weight = weight
    }

    public var description: String { "\(id) (\(weight))" }
}

/// What a request asks of the balancer beyond "any backend will do".
public struct BalancingRequest: Hashable, Sendable {
    /// What the request should stick to. Consistent-hashing policies map it to a backend; a request without one
    /// is placed by a random key, which spreads such requests evenly. Other policies ignore it.
    public var affinityKey: RequestKey?

    public init(affinityKey: RequestKey? = nil) { self.affinityKey = affinityKey }

    /// A request that any backend may serve.
    public static let any = BalancingRequest()
}

/// How a request ended, as fed back to policies and to passive health checking.
public enum RequestOutcome: Hashable, Sendable {
    /// The backend answered, whatever the answer said about the caller's request.
    case success
    /// The backend failed: a refused or reset connection, a timeout, a 5xx. Counts towards outlier ejection.
    case failure
    /// The caller gave up (its own client went away) before the backend answered: says nothing about the backend,
    /// so it releases the outstanding slot without touching latency or health.
    case cancelled
}
