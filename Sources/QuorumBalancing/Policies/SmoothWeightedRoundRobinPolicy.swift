/// nginx's smooth weighted round-robin: exact proportions, spread as evenly as the weights allow.
///
/// Each pick adds every candidate's weight to its running score, chooses the highest score, and subtracts the
/// total weight from the winner. With weights {a: 5, b: 1, c: 1} the sequence is `a a b a c a a`, where a
/// plain weighted round-robin would send five to `a` in a row.
///
/// What this guarantees, starting from a fresh policy with fixed integer weights summing to W (checked by the
/// property tests): after any t picks, each backend's count differs from t·w/W by less than one; so every
/// W consecutive picks from the start contain exactly w of each, and any window of picks differs from its
/// share by less than two. (Less than one in *every* window is impossible in general: for {5, 1, 1}, some
/// window of four holds four `a`s, against a share of 2.86.)
///
/// When the candidates change, newcomers start with a score of zero and departed backends are forgotten,
/// as in nginx; proportions then settle over the next period.
public struct SmoothWeightedRoundRobinPolicy: LoadBalancingPolicy {
    /// Invariant: with fixed candidates, the scores sum to zero after every pick.
    private var currentScores: [BackendID: Double] = [:]

    public init() {}

    public mutating func pick(
        from candidates: [Backend], for request: BalancingRequest, using random: inout some RandomNumberGenerator,
        now: BalancerTime
    ) -> BackendID? {
        guard let first = candidates.first else { return nil }
        var totalWeight = 0.0
        var winner = first.id
        var winnerScore = -Double.infinity
        for candidate in candidates {
            let score = currentScores[candidate.id, default: 0] + candidate.weight.rawValue
            currentScores[candidate.id] = score
            totalWeight += candidate.weight.rawValue
            // Strictly greater: ties go to the earlier candidate, as in nginx, so the sequence is deterministic.
            if score > winnerScore {
                winner = candidate.id
                winnerScore = score
            }
        }
        // Every candidate now has a score, so more scores than candidates means some backends departed.
        if currentScores.count > candidates.count {
            let present = Set(candidates.map(\.id))
            currentScores = currentScores.filter { present.contains($0.key) }
        }
        currentScores[winner, default: 0] -= totalWeight
        return winner
    }
}
