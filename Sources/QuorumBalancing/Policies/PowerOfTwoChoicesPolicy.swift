/// Samples two distinct candidates at random and sends the request to the one with fewer requests in flight
/// (relative to weight).
///
/// Mitzenmacher's "power of two choices": placing n requests on n backends at random leaves the busiest with
/// about ln n / ln ln n of them, while the better of two random choices leaves it with about ln ln n / ln 2, an
/// exponential improvement for one extra look. It needs no scan of all candidates, and the random sampling keeps
/// independent balancers from herding onto the same backend.
public struct PowerOfTwoChoicesPolicy: LoadBalancingPolicy {
    public private(set) var outstanding = OutstandingRequests()

    public init() {}

    public mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID? {
        guard let (first, second) = Self.twoDistinct(from: candidates, using: &random) else {
            return candidates.first?.id
        }
        return outstanding.weightedLoad(of: second) < outstanding.weightedLoad(of: first) ? second.id : first.id
    }

    public mutating func requestStarted(on backend: BackendID, now: BalancerTime) {
        outstanding.started(on: backend)
    }

    public mutating func requestFinished(
        on backend: BackendID, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime
    ) {
        outstanding.finished(on: backend)
    }

    /// Two different candidates, uniformly among all pairs; nil when there are fewer than two.
    static func twoDistinct(
        from candidates: [Backend], using random: inout some RandomNumberGenerator
    ) -> (Backend, Backend)? {
        guard candidates.count >= 2 else { return nil }
        let firstIndex = Int.random(in: 0..<candidates.count, using: &random)
        // Draw from the others by skipping over the first: no retry loop, no bias.
        var secondIndex = Int.random(in: 0..<(candidates.count - 1), using: &random)
        if secondIndex >= firstIndex { secondIndex += 1 }
        return (candidates[firstIndex], candidates[secondIndex])
    }
}
