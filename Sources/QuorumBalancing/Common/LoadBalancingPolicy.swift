/// A way of choosing a backend for each request: a value, stepped by its owner, that never reads a clock or a
/// global random source.
///
/// The contract, for whoever drives a policy (``Balancer`` does it for you):
/// 1. ``pick(from:for:using:now:)`` chooses among the candidates it is given, which are the backends that are
///    eligible right now (healthy, or all of them in panic) with their effective weights. It does not count the
///    request as started: the caller may still fail to send it.
/// 2. ``requestStarted(on:now:)`` when the request is sent, then exactly one
///    ``requestFinished(on:latency:outcome:now:)`` when it ends. Policies that track load or latency learn only
///    from these calls, so every started request must be finished, even if the backend has since gone.
///
/// Every call runs on the owner's executor; a policy is a plain value with no locks inside.
public protocol LoadBalancingPolicy: Sendable {
    /// Chooses a backend for one request, or returns nil when `candidates` is empty.
    /// - Parameters:
    ///   - candidates: the eligible backends, each id at most once. The order matters only for ties.
    ///   - request: what the request asks for; only consistent-hashing policies read its affinity key.
    ///   - random: the only source of randomness a policy may use, so that a seeded run replays exactly.
    ///   - now: the caller's current time, for policies whose view of a backend fades with age.
    mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID?

    /// A request chosen by ``pick(from:for:using:now:)`` was sent to `backend`.
    mutating func requestStarted(on backend: BackendID, now: BalancerTime)

    /// A request started on `backend` ended after `latency`, with `outcome`.
    mutating func requestFinished(
        on backend: BackendID, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime)

    /// Whether candidates should carry weights reduced by slow start. True for policies that spread load, false
    /// for consistent hashing, where a weight that changes on every pick would rebuild the placement each time
    /// and move keys back and forth (Envoy makes the same exception).
    static var followsSlowStart: Bool { get }
}

extension LoadBalancingPolicy {
    public static var followsSlowStart: Bool { true }

    /// Stateless policies (random, round-robin, weighted) learn nothing from feedback.
    public mutating func requestStarted(on backend: BackendID, now: BalancerTime) {}
    public mutating func requestFinished(
        on backend: BackendID, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime
    ) {}

    /// Picks for a request with no affinity key.
    public mutating func pick(
        from candidates: [Backend], using random: inout some RandomNumberGenerator, now: BalancerTime
    ) -> BackendID? {
        pick(from: candidates, for: .any, using: &random, now: now)
    }
}
