/// Passive health checking: eject a backend that real requests show to be failing, for a time that doubles on
/// each repeated ejection.
///
/// Modelled on Envoy's outlier detection, with two differences: the ejection time grows exponentially rather
/// than linearly (a backend that keeps failing soon stays out for ``ejectionTimeMax``), and the back-off resets
/// once a backend has stayed in for ``ejectionTimeMax`` after its last return.
public struct OutlierDetection: Hashable, Sendable {
    /// Eject after this many failures in a row; nil disables the rule.
    public var consecutiveFailures: Int?
    /// Eject when the error rate over a window is too high; nil disables the rule.
    public var errorRate: ErrorRateRule?
    /// The first ejection lasts this long; the k-th in a row lasts 2^(k−1) times as long.
    public var ejectionTimeBase: BalancerDuration
    /// No ejection lasts longer; also how long a backend must stay in for its back-off to reset.
    public var ejectionTimeMax: BalancerDuration
    /// At most this share of the backends is ejected at once, though one may always be: outlier detection must
    /// not empty a fleet whose failures are the caller's own fault (Envoy's `max_ejection_percent`).
    public var ejectedPercentageMax: Percentage

    public init(
        consecutiveFailures: Int? = 5, errorRate: ErrorRateRule? = nil,
        ejectionTimeBase: BalancerDuration = .seconds(30),
        ejectionTimeMax: BalancerDuration = .seconds(300), ejectedPercentageMax: Percentage = 50
    ) throws(BalancingError) {
        if let consecutiveFailures, consecutiveFailures < 1 {
            throw .invalidConfiguration(
                "consecutiveFailures must be at least 1 (got \(consecutiveFailures)); 5 is typical, or nil to disable")
        }
        guard ejectionTimeBase > .zero && ejectionTimeBase <= ejectionTimeMax else {
            throw .invalidConfiguration(
                "the ejection time base must be above zero and at most the maximum (got \(ejectionTimeBase) and"
                    + " \(ejectionTimeMax)); 30 s and 300 s are typical")
        }
        self.consecutiveFailures = consecutiveFailures
        self.errorRate = errorRate
        self.ejectionTimeBase = ejectionTimeBase
        self.ejectionTimeMax = ejectionTimeMax
        self.ejectedPercentageMax = ejectedPercentageMax
    }

    // The defaults pass validation by construction.
    public static let standard = try! OutlierDetection()

    /// How long the `ejectionsInARow`-th consecutive ejection lasts (the first is 1).
    public func ejectionTime(ejectionsInARow: Int) -> BalancerDuration {
        precondition(ejectionsInARow >= 1)
        // Beyond 2^62 the product saturates anyway; the cap keeps the shift defined.
        let doubling = UInt64(1) << UInt64(min(ejectionsInARow - 1, 62))
        return min(ejectionTimeBase.saturatingMultiplied(by: doubling), ejectionTimeMax)
    }
}

/// Ejects a backend whose share of failed requests over a sliding window reaches a threshold.
public struct ErrorRateRule: Hashable, Sendable {
    /// Eject at or above this share of failures.
    public var threshold: Percentage
    /// The window the share is measured over, kept as ten buckets of a tenth of it each.
    public var window: BalancerDuration
    /// Fewer requests than this in the window say too little to judge, so they never eject.
    public var requestsMin: Int

    public init(threshold: Percentage = 50, window: BalancerDuration = .seconds(10), requestsMin: Int = 20)
        throws(BalancingError)
    {
        guard threshold > 0, window >= BalancerDuration(microseconds: 10), requestsMin >= 1 else {
            throw .invalidConfiguration(
                "an error-rate rule needs a threshold above 0%, a window of at least 10 µs and at least one request"
                    + " (got \(threshold), \(window), \(requestsMin)); 50%, 10 s and 20 are typical")
        }
        self.threshold = threshold
        self.window = window
        self.requestsMin = requestsMin
    }
}
