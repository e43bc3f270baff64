/// The health of every backend, kept from explicit inputs: active check results, request outcomes, joins and
/// the current time. It never probes, reads a clock or starts a timer; expiries are computed from `now`.
///
/// It decides which backends are candidates for a pick (``candidates(from:now:followsSlowStart:)``) and with
/// what weight: healthy ones, with slow start ramping the weight of those that just joined or returned; or, when
/// fewer than the panic threshold are healthy, all of them.
public struct HealthTracker: Hashable, Sendable {
    public let configuration: HealthConfiguration
    /// Backends the tracker knows; outcomes and checks for others are ignored (they left the set).
    private var backends: [BackendID: BackendHealth] = [:]

    /// Tracks `initialBackends` as healthy and fully warm: at startup there is no traffic to protect them from.
    public init(configuration: HealthConfiguration = .standard, initialBackends: [BackendID] = []) {
        self.configuration = configuration
        for id in initialBackends { backends[id] = newHealth() }
    }

    /// Starts tracking a backend added to the set after startup; it goes through slow start from `now`.
    public mutating func backendJoined(_ id: BackendID, now: BalancerTime) {
        guard backends[id] == nil else { return }
        var health = newHealth()
        health.rampStartedAt = now
        backends[id] = health
    }

    /// Forgets a backend removed from the set.
    public mutating func backendLeft(_ id: BackendID) {
        backends[id] = nil
    }

    public func isTracking(_ id: BackendID) -> Bool { backends[id] != nil }

    // MARK: Inputs

    /// Feeds the result of one active health check.
    public mutating func recordCheck(_ result: HealthCheckResult, for id: BackendID, now: BalancerTime) {
        guard var health = backends[id] else { return }
        let thresholds = configuration.activeChecks
        switch result {
        case .passed:
            health.checkFailuresInARow = 0
            health.checkPassesInARow += 1
            if health.failingChecks && health.checkPassesInARow >= thresholds.healthyThreshold {
                health.failingChecks = false
                health.rampStartedAt = now
                // The checks saw it go and come back (a restart): whatever ejected it is over, so it returns now
                // rather than at the end of the ejection, through slow start. An ejected backend whose checks
                // never failed (it answers probes but fails requests) stays out for the whole ejection.
                if health.isEjected(now: now) { health.ejectedUntil = now }
            }
        case .failed:
            health.checkPassesInARow = 0
            health.checkFailuresInARow += 1
            if !health.failingChecks && health.checkFailuresInARow >= thresholds.unhealthyThreshold {
                health.failingChecks = true
            }
        }
        backends[id] = health
    }

    /// Feeds the outcome of one real request, for outlier detection.
    /// - Returns: the end of the ejection if this outcome ejected the backend, otherwise nil.
    @discardableResult
    public mutating func recordOutcome(_ outcome: RequestOutcome, for id: BackendID, now: BalancerTime) -> BalancerTime?
    {
        guard let detection = configuration.outlierDetection, var health = backends[id] else { return nil }
        // Requests still in flight when the backend was ejected say nothing new; counting them would extend
        // the ejection the moment it ends.
        guard !health.isEjected(now: now), outcome != .cancelled else { return nil }

        health.outcomes?.record(outcome, now: now)
        health.requestFailuresInARow = outcome == .failure ? health.requestFailuresInARow + 1 : 0

        var shouldEject = false
        if let limit = detection.consecutiveFailures, health.requestFailuresInARow >= limit { shouldEject = true }
        if let rule = detection.errorRate, let totals = health.outcomes?.totals(now: now),
            totals.requests >= rule.requestsMin,
            Double(totals.failures) >= rule.threshold.fraction * Double(totals.requests)
        {
            shouldEject = true
        }
        guard shouldEject, mayEjectAnother(now: now, detection: detection) else {
            backends[id] = health
            return nil
        }

        // The back-off resets once the backend has stayed in for the maximum ejection time since it returned.
        if let lastReturn = health.ejectedUntil, now.duration(since: lastReturn) >= detection.ejectionTimeMax {
            health.ejectionsInARow = 0
        }
        health.ejectionsInARow += 1
        let until = now + detection.ejectionTime(ejectionsInARow: health.ejectionsInARow)
        health.ejectedUntil = until
        health.rampStartedAt = until
        health.requestFailuresInARow = 0
        health.outcomes?.reset()
        backends[id] = health
        return until
    }

    // MARK: Queries

    public func status(of id: BackendID, now: BalancerTime) -> BackendStatus {
        backends[id]?.status(now: now) ?? .healthy
    }

    /// The share of its configured weight `id` gets at `now`: below 1 only during slow start.
    public func slowStartFactor(of id: BackendID, now: BalancerTime) -> Double {
        guard let slowStart = configuration.slowStart, let started = backends[id]?.rampStartedAt, now >= started else {
            return 1
        }
        return slowStart.weightFactor(elapsed: now.duration(since: started))
    }

    /// The backends a policy should choose among at `now`.
    /// - Parameters:
    ///   - all: every backend in the set, with its configured weight.
    ///   - followsSlowStart: whether to reduce weights during slow start (see
    ///     ``LoadBalancingPolicy/followsSlowStart``).
    public func candidates(from all: [Backend], now: BalancerTime, followsSlowStart: Bool = true) -> CandidateSelection
    {
        var healthy: [Backend] = []
        healthy.reserveCapacity(all.count)
        for backend in all where status(of: backend.id, now: now).isHealthy {
            var candidate = backend
            if followsSlowStart {
                let factor = slowStartFactor(of: backend.id, now: now)
                if factor < 1 { candidate.weight = Weight(backend.weight.rawValue * factor) }
            }
            healthy.append(candidate)
        }
        let threshold = configuration.panicThreshold.fraction * Double(all.count)
        if !all.isEmpty && Double(healthy.count) < threshold {
            return CandidateSelection(backends: all, healthyCount: healthy.count, isPanicking: true)
        }
        return CandidateSelection(backends: healthy, healthyCount: healthy.count, isPanicking: false)
    }

    // MARK: Private

    private func newHealth() -> BackendHealth {
        BackendHealth(errorRateWindow: configuration.outlierDetection?.errorRate?.window)
    }

    /// Whether one more ejection keeps the ejected share within the limit; one ejection is always allowed.
    private func mayEjectAnother(now: BalancerTime, detection: OutlierDetection) -> Bool {
        let ejected = backends.values.count { $0.isEjected(now: now) }
        let limit = max(1, Int(detection.ejectedPercentageMax.fraction * Double(backends.count)))
        return ejected + 1 <= limit
    }
}

/// The outcome of a health filter: who a policy may pick from, and why.
public struct CandidateSelection: Hashable, Sendable {
    /// The backends to pick from, with their effective weights.
    public var backends: [Backend]
    /// How many backends are healthy.
    public var healthyCount: Int
    /// True when too few backends are healthy and `backends` is the whole set, unfiltered.
    public var isPanicking: Bool
}
