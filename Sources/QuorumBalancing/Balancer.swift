/// A policy together with health tracking: the one value a proxy or client keeps per service.
///
/// It filters the backend set through ``HealthTracker`` (active checks, outlier ejection, slow start, panic
/// threshold), asks the policy to pick among the candidates, and routes feedback to both. Like everything in this
/// module it is a plain value driven from one executor: time and randomness come in as arguments.
///
/// ```swift
/// var balancer = try Balancer(backends: backends, policy: PowerOfTwoChoicesPolicy())
/// guard let backend = balancer.pick(using: &generator, now: now) else { /* no backend at all */ }
/// // ... send the request ...
/// balancer.requestFinished(on: backend, latency: elapsed, outcome: .success, now: later)
/// ```
public struct Balancer<Policy: LoadBalancingPolicy>: Sendable {
    /// The backend set with configured weights. Invariant: ids are distinct.
    public private(set) var backends: [Backend]
    public private(set) var policy: Policy
    public private(set) var health: HealthTracker

    /// - Throws: ``BalancingError/duplicateBackend(_:)`` if an id appears twice.
    public init(backends: [Backend], policy: Policy, health: HealthConfiguration = .standard) throws(BalancingError) {
        try Self.checkDistinct(backends)
        self.backends = backends
        self.policy = policy
        self.health = HealthTracker(configuration: health, initialBackends: backends.map(\.id))
    }

    /// Replaces the backend set (a registry update). Newcomers go through slow start; those removed are
    /// forgotten, though requests still in flight on them must still be finished.
    public mutating func updateBackends(_ newBackends: [Backend], now: BalancerTime) throws(BalancingError) {
        try Self.checkDistinct(newBackends)
        let newIDs = Set(newBackends.map(\.id))
        for backend in backends where !newIDs.contains(backend.id) { health.backendLeft(backend.id) }
        for backend in newBackends where !health.isTracking(backend.id) { health.backendJoined(backend.id, now: now) }
        backends = newBackends
    }

    /// The backends eligible at `now`, as the policy will see them.
    public func candidates(now: BalancerTime) -> CandidateSelection {
        health.candidates(from: backends, now: now, followsSlowStart: Policy.followsSlowStart)
    }

    /// Chooses a backend and counts the request as started on it. Returns nil only when the set is empty.
    ///
    /// Every non-nil pick must be followed by exactly one ``requestFinished(on:latency:outcome:now:)``; if the
    /// request is never sent, finish it as `.cancelled`.
    public mutating func pick(
        for request: BalancingRequest = .any, using random: inout some RandomNumberGenerator, now: BalancerTime
    ) -> BackendID? {
        let selection = candidates(now: now)
        guard let chosen = policy.pick(from: selection.backends, for: request, using: &random, now: now) else {
            return nil
        }
        assert(selection.backends.contains { $0.id == chosen }, "\(Policy.self) picked \(chosen), not a candidate")
        policy.requestStarted(on: chosen, now: now)
        return chosen
    }

    /// Reports how a picked request ended; feeds the policy (load, latency) and outlier detection.
    /// - Returns: the end of an ejection if this outcome ejected the backend.
    @discardableResult
    public mutating func requestFinished(
        on backend: BackendID, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime
    ) -> BalancerTime? {
        policy.requestFinished(on: backend, latency: latency, outcome: outcome, now: now)
        return health.recordOutcome(outcome, for: backend, now: now)
    }

    /// Feeds the result of an active health check.
    public mutating func recordCheck(_ result: HealthCheckResult, for backend: BackendID, now: BalancerTime) {
        health.recordCheck(result, for: backend, now: now)
    }

    private static func checkDistinct(_ backends: [Backend]) throws(BalancingError) {
        var seen = Set<BackendID>()
        for backend in backends where !seen.insert(backend.id).inserted {
            throw .duplicateBackend(backend.id)
        }
    }
}
