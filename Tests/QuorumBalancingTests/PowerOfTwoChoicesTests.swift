import QuorumConsensus
import Testing

@testable import QuorumBalancing

@Suite("Power of two choices")
struct PowerOfTwoChoicesTests {
    /// Throws `balls` requests that never finish onto `bins` backends and returns max load minus the average.
    static func gapAboveAverage(
        bins: Int, balls: Int, seed: UInt64, choose: (inout SplitMix64, [Backend]) -> BackendID
    ) -> Int {
        var generator = SplitMix64(seed: seed)
        let candidates = backends(bins)
        var loads: [BackendID: Int] = [:]
        for _ in 0..<balls { loads[choose(&generator, candidates), default: 0] += 1 }
        return loads.values.max()! - balls / bins
    }

    @Test(
        "in balls into bins, two choices keep the maximum load far below random's",
        arguments: [(bins: 100, balls: 10_000), (bins: 1_000, balls: 20_000)])
    func ballsIntoBins(bins: Int, balls: Int) {
        for seed: UInt64 in 1...3 {
            var random = RandomPolicy()
            let randomGap = Self.gapAboveAverage(bins: bins, balls: balls, seed: seed) { generator, candidates in
                random.pickAndStart(from: candidates, using: &generator)
            }
            var twoChoices = PowerOfTwoChoicesPolicy()
            let twoChoicesGap = Self.gapAboveAverage(bins: bins, balls: balls, seed: seed) { generator, candidates in
                twoChoices.pickAndStart(from: candidates, using: &generator)
            }
            // Theory (heavily loaded case, m ≫ n): random's gap above the average grows like √(2 (m/n) ln n),
            // about 30 and 17 here, while two choices' stays near ln ln n / ln 2 ≈ 2 to 3 whatever m is. (With
            // m = n the two differ by only a ball or two at these sizes, too little for a sharp test.)
            #expect(twoChoicesGap <= 3, "seed \(seed): two choices exceeded the average by \(twoChoicesGap)")
            #expect(
                randomGap >= 4 * max(twoChoicesGap, 1),
                "seed \(seed): random \(randomGap), two choices \(twoChoicesGap)")
        }
    }

    @Test("the two sampled candidates are always distinct and every pair is possible")
    func distinctPairs() {
        var generator = SplitMix64(seed: 11)
        var pairs = Set<[BackendID]>()
        for _ in 0..<2_000 {
            let (first, second) = PowerOfTwoChoicesPolicy.twoDistinct(from: backends(4), using: &generator)!
            #expect(first.id != second.id)
            pairs.insert([first.id, second.id].sorted())
        }
        #expect(pairs.count == 6)
    }

    @Test("peak EWMA stops sending to a backend that turned slow, and tries it again once its estimate decays")
    func peakEWMAAvoidsSlowBackend() throws {
        var generator = SplitMix64(seed: 12)
        var policy = PeakEWMAPolicy(
            configuration: try .init(decayTime: .seconds(1), initialLatency: .milliseconds(5)))
        let candidates = backends(5)
        var now = BalancerTime.zero
        var slowPicks = 0
        // One request every millisecond, each finishing at once; backend 1 takes 50 ms, the others 5 ms.
        for step in 0..<4_000 {
            let chosen = policy.pickAndStart(from: candidates, using: &generator, now: now)
            let latency: BalancerDuration = chosen == 1 ? .milliseconds(50) : .milliseconds(5)
            policy.requestFinished(on: chosen, latency: latency, outcome: .success, now: now)
            if chosen == 1 && step >= 1_000 { slowPicks += 1 }
            now = now + .milliseconds(1)
        }
        // Round-robin or random would send 20% (600) of the last 3000 to the slow backend.
        #expect(slowPicks < 150, "slow backend got \(slowPicks) of the last 3000 requests")
        #expect(slowPicks > 0, "a slow backend must still be probed now and then")
        let estimate = policy.estimatedLatency(of: 1, now: now)
        #expect(policy.estimatedLatency(of: 1, now: now + .seconds(5)) < estimate / 100)
    }

    @Test("peak EWMA believes a slower sample at once but lets faster ones pull the estimate down gradually")
    func peakSensitivity() throws {
        var policy = PeakEWMAPolicy(configuration: try .init(decayTime: .seconds(10)))
        policy.requestStarted(on: 1, now: .zero)
        policy.requestFinished(on: 1, latency: .milliseconds(10), outcome: .success, now: .zero)
        #expect(policy.estimatedLatency(of: 1, now: .zero) == 10_000)
        policy.requestStarted(on: 1, now: .zero)
        policy.requestFinished(on: 1, latency: .milliseconds(80), outcome: .success, now: .zero)
        #expect(policy.estimatedLatency(of: 1, now: .zero) == 80_000)
        policy.requestStarted(on: 1, now: .zero)
        policy.requestFinished(on: 1, latency: .milliseconds(10), outcome: .success, now: seconds(1))
        let afterFastSample = policy.estimatedLatency(of: 1, now: seconds(1))
        #expect(afterFastSample > 70_000 && afterFastSample < 80_000, "\(afterFastSample)")
    }

    @Test("peak EWMA records a fast failure as the failure latency, so a failing backend is no black hole")
    func failuresArePenalised() {
        var policy = PeakEWMAPolicy()
        policy.requestStarted(on: 1, now: .zero)
        policy.requestFinished(on: 1, latency: 50, outcome: .failure, now: .zero)
        #expect(
            policy.estimatedLatency(of: 1, now: .zero)
                == Double(PeakEWMAPolicy.Configuration.standard.failureLatency.microseconds))
        policy.requestStarted(on: 2, now: .zero)
        policy.requestFinished(on: 2, latency: 50, outcome: .cancelled, now: .zero)
        #expect(policy.estimatedLatency(of: 2, now: .zero) == 30_000, "a cancelled request says nothing about latency")
        #expect(policy.outstanding.total == 0)
    }
}
