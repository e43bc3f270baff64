/// Sends each request to the backend with the fewest requests in flight relative to its weight; ties are broken
/// at random.
///
/// A slow backend holds its requests longer, so it shows more outstanding requests and gets fewer new ones:
/// the policy routes around slowness without measuring time. It scans every candidate on each pick, and
/// because every balancer with the same view makes the same choice, many independent balancers can pile onto the
/// same idle backend; ``PowerOfTwoChoicesPolicy`` avoids both costs.
public struct LeastOutstandingRequestsPolicy: LoadBalancingPolicy {
    public private(set) var outstanding = OutstandingRequests()

    public init() {}

    public mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID? {
        var chosen: BackendID?
        var chosenLoad = Double.infinity
        var tiedCount = 0
        for candidate in candidates {
            let load = outstanding.weightedLoad(of: candidate)
            if load < chosenLoad {
                chosen = candidate.id
                chosenLoad = load
                tiedCount = 1
            } else if load == chosenLoad {
                // Reservoir sampling over the tied minimum: each tied backend ends up chosen with equal
                // probability, so an idle fleet is not served by its first member alone.
                tiedCount += 1
                if Int.random(in: 0..<tiedCount, using: &random) == 0 { chosen = candidate.id }
            }
        }
        return chosen
    }

    public mutating func requestStarted(on backend: BackendID, now: BalancerTime) {
        outstanding.started(on: backend)
    }

    public mutating func requestFinished(
        on backend: BackendID, latency: BalancerDuration, outcome: RequestOutcome, now: BalancerTime
    ) {
        outstanding.finished(on: backend)
    }
}
