/// Sends each request to a backend chosen at random with probability proportional to its weight.
///
/// Proportions hold only on average; when short-term exactness matters (few requests, big weight differences)
/// use ``SmoothWeightedRoundRobinPolicy``.
public struct WeightedRandomPolicy: LoadBalancingPolicy {
    public init() {}

    public mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID? {
        guard let last = candidates.last else { return nil }
        let totalWeight = candidates.reduce(0.0) { $0 + $1.weight.rawValue }
        var point = Double.random(in: 0..<totalWeight, using: &random)
        for candidate in candidates {
            if point < candidate.weight.rawValue { return candidate.id }
            point -= candidate.weight.rawValue
        }
        // Rounding in the running subtraction can leave a sliver past the last weight; it belongs to the last.
        return last.id
    }
}
