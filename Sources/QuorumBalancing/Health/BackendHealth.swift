/// Where a backend stands, as the health tracker sees it at a given time.
public enum BackendStatus: Hashable, Sendable {
    /// Eligible for traffic (possibly still in slow start).
    case healthy
    /// Marked down by active health checks until enough of them pass again.
    case failingChecks
    /// Ejected by outlier detection until the given time.
    case ejected(until: BalancerTime)

    public var isHealthy: Bool { self == .healthy }
}

/// What the tracker remembers about one backend.
struct BackendHealth: Hashable, Sendable {
    // Active checks.
    var failingChecks = false
    var checkFailuresInARow = 0
    var checkPassesInARow = 0

    // Passive outlier detection.
    var requestFailuresInARow = 0
    var outcomes: OutcomeWindow?
    /// Ejected while `now < ejectedUntil`.
    var ejectedUntil: BalancerTime?
    /// Ejections since the back-off last reset; the next ejection is number `ejectionsInARow + 1`.
    var ejectionsInARow = 0

    /// When the current slow-start ramp began: on joining, on passing checks again, on returning from ejection.
    var rampStartedAt: BalancerTime?

    init(errorRateWindow: BalancerDuration?) {
        outcomes = errorRateWindow.map(OutcomeWindow.init(window:))
    }

    func isEjected(now: BalancerTime) -> Bool {
        ejectedUntil.map { now < $0 } ?? false
    }

    func status(now: BalancerTime) -> BackendStatus {
        if let ejectedUntil, now < ejectedUntil { return .ejected(until: ejectedUntil) }
        return failingChecks ? .failingChecks : .healthy
    }
}
