/// Sends requests to the candidates in turn, ignoring weights and load.
///
/// The first pick starts at a random position: a fleet of proxies started together would otherwise all send
/// their first request to the same backend, and keep hitting it in lockstep.
public struct RoundRobinPolicy: LoadBalancingPolicy {
    /// The position of the next pick; nil until the first pick chooses a random start.
    private var nextPosition: Int?

    public init() {}

    public mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID? {
        guard !candidates.isEmpty else { return nil }
        let position = nextPosition ?? Int.random(in: 0..<candidates.count, using: &random)
        // A shrinking candidate list only shifts the cycle; the modulo keeps every position valid.
        let chosen = candidates[position % candidates.count]
        nextPosition = (position + 1) % candidates.count
        return chosen.id
    }
}
