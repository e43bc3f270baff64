/// Power of two choices over a latency estimate: the cost of a backend is its peak-EWMA latency times the
/// requests it has in flight (plus the new one), divided by its weight; the cheaper of two random candidates wins.
///
/// This is Finagle's and Linkerd's "peak EWMA". Outstanding counts react to a slow backend only once requests
/// pile up on it; latency reacts from the first slow answer. The estimate is *peak*-sensitive: a latency above
/// the average replaces it at once, while lower ones pull it down gradually, so a backend that turns slow is
/// avoided immediately and trusted again only slowly. Without new samples the estimate decays toward zero with
/// time constant ``Configuration/decayTime``, so a backend avoided for being slow is eventually tried again
/// rather than starved forever.
public struct PeakEWMAPolicy: LoadBalancingPolicy {
    public struct Configuration: Hashable, Sendable {
        /// How long the memory of a latency sample lasts: its weight falls by e every `decayTime`.
        public var decayTime: BalancerDuration
        /// The estimate for a backend with no samples yet. Too low and every new backend is flooded on arrival;
        /// too high and it is ignored until the estimates of the others decay.
        public var initialLatency: BalancerDuration
        /// The latency recorded for a failed request, if higher than the measured one. A backend that fails fast
        /// would otherwise look like the fastest and attract all traffic (a "black hole").
        public var failureLatency: BalancerDuration

        public init(
            decayTime: BalancerDuration = .seconds(10), initialLatency: BalancerDuration = .milliseconds(30),
            failureLatency: BalancerDuration = .seconds(1)
        ) throws(BalancingError) {
            guard decayTime > .zero else {
                throw .invalidConfiguration("decayTime must be greater than zero (10 s is a good default)")
            }
            self.decayTime = decayTime
            self.initialLatency = initialLatency
            self.failureLatency = failureLatency
        }

        // The defaults pass validation by construction.
        public static let standard = try! Configuration()
    }

    /// A latency estimate and when it was last updated.
    struct LatencyEstimate: Hashable, Sendable {
        var microseconds: Double
        var updatedAt: BalancerTime
    }

    public let configuration: Configuration
    public private(set) var outstanding = OutstandingRequests()
    private var estimates: [BackendID: LatencyEstimate] = [:]

    public init(configuration: Configuration = .standard) {
        self.configuration = configuration
    }

    /// The latency the policy expects from `backend` at `now`, in microseconds.
    public func estimatedLatency(of backend: BackendID, now: BalancerTime) -> Double {
        guard let estimate = estimates[backend] else { return Double(configuration.initialLatency.microseconds) }
        return estimate.microseconds * decayFactor(since: estimate.updatedAt, now: now)
    }

    /// The expected wait for one more request on `backend`: latency times the queue it would join.
    func cost(of backend: Backend, now: BalancerTime) -> Double {
        estimatedLatency(of: backend.id, now: now) * outstanding.weightedLoad(of: backend)
    }

    public mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID? {
        guard let (first, second) = PowerOfTwoChoicesPolicy.twoDistinct(from: candidates, using: &random) else {
            return candidates.first?.id
        }
        return cost(of: second, now: now) < cost(of: first, now: now) ? second.id : first.id
    }

    public mutating func requestStarted(on backend: BackendID, now: BalancerTime) {
        outstanding.started(on: backend)
    }

    public mutating func requestFinished(
        on backend: BackendID, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime
    ) {
        outstanding.finished(on: backend)
        switch outcome {
        case .cancelled: return
        case .success: observe(Double(latency.microseconds), on: backend, now: now)
        case .failure: observe(Double(max(latency, configuration.failureLatency).microseconds), on: backend, now: now)
        }
    }

    private mutating func observe(_ sample: Double, on backend: BackendID, now: BalancerTime) {
        guard let previous = estimates[backend], sample <= previous.microseconds else {
            // Peak sensitivity: a slower answer than expected (or the first answer) is believed at once.
            estimates[backend] = LatencyEstimate(microseconds: sample, updatedAt: now)
            return
        }
        // Weighted by elapsed time rather than by sample count, so a busy backend's estimate does not forget
        // faster than an idle one's.
        let keep = decayFactor(since: previous.updatedAt, now: now)
        estimates[backend] = LatencyEstimate(
            microseconds: previous.microseconds * keep + sample * (1 - keep), updatedAt: now)
    }

    private func decayFactor(since then: BalancerTime, now: BalancerTime) -> Double {
        let elapsed = Double(now.duration(since: then).microseconds)
        return DeterministicMath.exponential(-elapsed / Double(configuration.decayTime.microseconds))
    }
}
