import QuorumConsensus
import Testing

@testable import QuorumBalancing


/// Backends 1...count, all of weight 1.
func backends(_ count: Int) -> [Backend] {
    (1...count).map { Backend(id: BackendID(UInt64($0))) }
}

/// Backends 1...weights.count with the given weights.
func backends(weights: [Double]) -> [Backend] {
    weights.enumerated().map { Backend(id: BackendID(UInt64($0.offset + 1)), weight: Weight($0.element)) }
}

func seconds(_ count: UInt64) -> BalancerTime { BalancerTime(microseconds: count * 1_000_000) }

extension LoadBalancingPolicy {
    /// Picks (unwrapping: the tests always pass candidates) and counts the request as started.
    mutating func pickAndStart(
        from candidates: [Backend], key: RequestKey? = nil, using random: inout some RandomNumberGenerator,
        now: BalancerTime = .zero
    ) -> BackendID {
        let chosen = pick(from: candidates, for: BalancingRequest(affinityKey: key), using: &random, now: now)!
        requestStarted(on: chosen, now: now)
        return chosen
    }
}
