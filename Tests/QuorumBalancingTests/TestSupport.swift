import Testing

@testable import QuorumBalancing

/// A tiny seeded generator (SplitMix64) so every random test replays exactly from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
