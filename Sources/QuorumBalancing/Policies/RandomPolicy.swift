/// Sends each request to a backend chosen uniformly at random, ignoring weights and load.
///
/// Needs no shared state, so many independent clients using it never synchronise; the cost is that by chance
/// some backend is always noticeably busier than the rest (see ``PowerOfTwoChoicesPolicy``).
public struct RandomPolicy: LoadBalancingPolicy {
    public init() {}

    public mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID? {
        candidates.randomElement(using: &random)?.id
    }
}
