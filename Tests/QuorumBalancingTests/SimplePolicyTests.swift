import QuorumConsensus
import Testing

@testable import QuorumBalancing

@Suite("Random, round-robin, weighted random and least outstanding")
struct SimplePolicyTests {
    @Test("every policy returns nil for an empty candidate set")
    func emptyCandidates() {
        var generator = SplitMix64(seed: 3)
        var random = RandomPolicy()
        var roundRobin = RoundRobinPolicy()
        var weighted = WeightedRandomPolicy()
        var smooth = SmoothWeightedRoundRobinPolicy()
        var least = LeastOutstandingRequestsPolicy()
        var twoChoices = PowerOfTwoChoicesPolicy()
        var ewma = PeakEWMAPolicy()
        var ring = RingHashPolicy(configuration: .standard)
        var maglev = MaglevPolicy(configuration: .standard)
        var rendezvous = RendezvousHashPolicy(configuration: .standard)
        #expect(random.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(roundRobin.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(weighted.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(smooth.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(least.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(twoChoices.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(ewma.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(ring.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(maglev.pick(from: [], using: &generator, now: .zero) == nil)
        #expect(rendezvous.pick(from: [], using: &generator, now: .zero) == nil)
    }

    @Test("a single candidate is always chosen, whatever the policy")
    func singleCandidate() {
        var generator = SplitMix64(seed: 4)
        let only = [Backend(id: 7)]
        var twoChoices = PowerOfTwoChoicesPolicy()
        var ewma = PeakEWMAPolicy()
        var maglev = MaglevPolicy(configuration: try! .init(tableSize: 101))
        for _ in 0..<3 {
            #expect(twoChoices.pickAndStart(from: only, using: &generator) == 7)
            #expect(ewma.pickAndStart(from: only, using: &generator) == 7)
            #expect(maglev.pickAndStart(from: only, using: &generator) == 7)
        }
    }

    @Test("random spreads picks uniformly")
    func randomIsUniform() {
        var generator = SplitMix64(seed: 5)
        var policy = RandomPolicy()
        var counts: [BackendID: Int] = [:]
        for _ in 0..<8_000 { counts[policy.pick(from: backends(4), using: &generator, now: .zero)!, default: 0] += 1 }
        #expect(counts.values.allSatisfy { (1_800...2_200).contains($0) }, "\(counts)")
    }

    @Test("round-robin visits every candidate once per cycle, from a random start")
    func roundRobinCycles() {
        var starts = Set<BackendID>()
        for seed in 0..<20 {
            var generator = SplitMix64(seed: UInt64(seed))
            var policy = RoundRobinPolicy()
            let picks = (0..<15).map { _ in policy.pick(from: backends(5), using: &generator, now: .zero)! }
            starts.insert(picks[0])
            for cycle in 0..<3 {
                #expect(Set(picks[(cycle * 5)..<(cycle * 5 + 5)]).count == 5)
            }
            #expect(zip(picks, picks.dropFirst()).allSatisfy { $1.rawValue == $0.rawValue % 5 + 1 })
        }
        #expect(starts.count > 1, "proxies started together must not all begin with the same backend")
    }

    @Test("weighted random follows the weights on average")
    func weightedRandomProportions() {
        var generator = SplitMix64(seed: 6)
        var policy = WeightedRandomPolicy()
        let candidates = backends(weights: [1, 2, 3, 4])
        var counts: [BackendID: Int] = [:]
        for _ in 0..<20_000 { counts[policy.pick(from: candidates, using: &generator, now: .zero)!, default: 0] += 1 }
        for backend in candidates {
            let share = Double(counts[backend.id, default: 0]) / 20_000
            #expect(abs(share - backend.weight.rawValue / 10) < 0.015, "\(backend): \(share)")
        }
    }

    @Test("least outstanding picks the backend with the fewest requests in flight")
    func leastOutstandingPicksIdlest() {
        var generator = SplitMix64(seed: 8)
        var policy = LeastOutstandingRequestsPolicy()
        let candidates = backends(3)
        for _ in 0..<3 { policy.requestStarted(on: 1, now: .zero) }
        policy.requestStarted(on: 2, now: .zero)
        for _ in 0..<10 { #expect(policy.pick(from: candidates, using: &generator, now: .zero) == 3) }
        policy.requestStarted(on: 3, now: .zero)
        policy.requestStarted(on: 3, now: .zero)
        #expect(policy.pick(from: candidates, using: &generator, now: .zero) == 2)
        #expect(policy.outstanding.total == 6)
    }

    @Test("least outstanding breaks ties at random, so an idle fleet is not served by its first member alone")
    func leastOutstandingTies() {
        var generator = SplitMix64(seed: 9)
        var policy = LeastOutstandingRequestsPolicy()
        var counts: [BackendID: Int] = [:]
        for _ in 0..<4_000 {
            let chosen = policy.pickAndStart(from: backends(4), using: &generator)
            counts[chosen, default: 0] += 1
            policy.requestFinished(on: chosen, latency: 100, outcome: .success, now: .zero)
        }
        #expect(counts.values.allSatisfy { (900...1_100).contains($0) }, "\(counts)")
    }

    @Test("least outstanding compares load relative to weight")
    func leastOutstandingWeighted() {
        var generator = SplitMix64(seed: 10)
        var policy = LeastOutstandingRequestsPolicy()
        let candidates = backends(weights: [1, 3])
        var counts: [BackendID: Int] = [:]
        // Requests that never finish: the weight-3 backend should hold about three times as many.
        for _ in 0..<400 { counts[policy.pickAndStart(from: candidates, using: &generator), default: 0] += 1 }
        #expect((98...102).contains(counts[1, default: 0]), "\(counts)")
    }
}
