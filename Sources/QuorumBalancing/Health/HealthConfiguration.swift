/// Everything that decides which backends a ``Balancer`` considers eligible, and with what weight.
public struct HealthConfiguration: Hashable, Sendable {
    public var activeChecks: ActiveHealthChecks
    /// nil disables passive outlier ejection.
    public var outlierDetection: OutlierDetection?
    /// nil disables slow start: a returning backend gets its full weight at once.
    public var slowStart: SlowStart?
    /// Below this share of healthy backends the balancer stops trusting health and balances over all backends,
    /// as Envoy's panic mode does. When most of a fleet looks down, the likelier story is a broken health check
    /// or a correlated blip, and piling the whole load onto the few survivors would take them down too. 0
    /// disables panic mode.
    public var panicThreshold: Percentage

    public init(
        activeChecks: ActiveHealthChecks = .standard, outlierDetection: OutlierDetection? = .standard,
        slowStart: SlowStart? = nil, panicThreshold: Percentage = 50
    ) {
        self.activeChecks = activeChecks
        self.outlierDetection = outlierDetection
        self.slowStart = slowStart
        self.panicThreshold = panicThreshold
    }

    public static let standard = HealthConfiguration()
}

/// How results of active health checks (probes the proxy sends on its own) turn into up and down.
/// Thresholds rather than single results, as HAProxy's `fall` and `rise`, so one lost probe does not flap a backend.
public struct ActiveHealthChecks: Hashable, Sendable {
    /// Consecutive failed checks that mark a healthy backend down.
    public var unhealthyThreshold: Int
    /// Consecutive passed checks that bring a down backend back.
    public var healthyThreshold: Int

    public init(unhealthyThreshold: Int = 3, healthyThreshold: Int = 2) throws(BalancingError) {
        guard unhealthyThreshold >= 1 && healthyThreshold >= 1 else {
            throw .invalidConfiguration(
                "health check thresholds must be at least 1 (got unhealthy \(unhealthyThreshold),"
                    + " healthy \(healthyThreshold)); HAProxy's defaults are 3 and 2")
        }
        self.unhealthyThreshold = unhealthyThreshold
        self.healthyThreshold = healthyThreshold
    }

    // The defaults pass validation by construction.
    public static let standard = try! ActiveHealthChecks()
}

/// The result of one active health check.
public enum HealthCheckResult: Hashable, Sendable {
    case passed
    case failed
}

/// Slow start: a backend that joins or returns gets a weight that ramps up linearly over a window, so that a
/// cold instance (empty caches, unwarmed JIT or connection pools) is not handed its full share at once.
///
/// Applies to policies that follow weights (weighted random, smooth weighted round-robin) and to those that
/// compare load relative to weight (least outstanding, power of two choices, peak EWMA); plain random and
/// round-robin ignore weights and consistent hashing opts out (see ``LoadBalancingPolicy/followsSlowStart``).
public struct SlowStart: Hashable, Sendable {
    /// How long the ramp from ``minimumWeight`` to the full weight takes.
    public var window: BalancerDuration
    /// The share of its weight a backend gets at the start of the window, so it receives some traffic at once.
    public var minimumWeight: Percentage

    public init(window: BalancerDuration = .seconds(30), minimumWeight: Percentage = 10) throws(BalancingError) {
        guard window > .zero, minimumWeight > 0 else {
            throw .invalidConfiguration(
                "slow start needs a window above zero and a minimum weight above 0% (got \(window),"
                    + " \(minimumWeight)); 30 s and 10% are typical")
        }
        self.window = window
        self.minimumWeight = minimumWeight
    }

    /// The fraction of its weight a backend gets `elapsed` after its ramp began: linear, floored, capped at 1.
    public func weightFactor(elapsed: BalancerDuration) -> Double {
        let progress = Double(elapsed.microseconds) / Double(window.microseconds)
        return min(1, max(minimumWeight.fraction, progress))
    }
}
