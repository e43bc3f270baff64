import QuorumConsensus
import Testing

@testable import QuorumBalancing

@Suite("Balancer, identifiers, errors and maths")
struct BalancerTests {
    @Test("a backend set with a duplicate id is refused, and the error says what to do")
    func duplicateBackends() {
        #expect(throws: BalancingError.duplicateBackend(2)) {
            try Balancer(backends: [Backend(id: 1), Backend(id: 2), Backend(id: 2)], policy: RandomPolicy())
        }
        #expect(BalancingError.duplicateBackend(2).description.contains("register each instance once"))
        #expect(BalancingError.invalidWeight(-1).description.contains("greater than zero"))
    }

    @Test("weights from outside are validated", arguments: [0.0, -1, .nan, .infinity])
    func invalidWeights(value: Double) {
        #expect(throws: BalancingError.self) {
            try Weight(validating: value)
        }
        // The same bad inputs, shifted so that 0 (a valid percentage) becomes 100.5 (an invalid one).
        #expect(throws: BalancingError.self) { try Percentage(validating: value == 0 ? 100.5 : value) }
    }

    @Test("the balancer counts picks as started and finishes them on the policy")
    func balancerFeedsPolicy() throws {
        var balancer = try Balancer(backends: backends(3), policy: LeastOutstandingRequestsPolicy())
        var generator = SplitMix64(seed: 21)
        let picks = (0..<6).map { _ in balancer.pick(using: &generator, now: .zero)! }
        #expect(balancer.policy.outstanding.total == 6)
        #expect(Set(picks).count == 3)
        for pick in picks { balancer.requestFinished(on: pick, latency: 10, outcome: .cancelled, now: .zero) }
        #expect(balancer.policy.outstanding.total == 0)
    }

    @Test("a removed backend is no longer picked, and its requests in flight can still finish")
    func updateBackends() throws {
        var balancer = try Balancer(backends: backends(3), policy: RoundRobinPolicy())
        var generator = SplitMix64(seed: 22)
        let first = balancer.pick(using: &generator, now: .zero)!
        try balancer.updateBackends(backends(3).filter { $0.id != first }, now: seconds(1))
        for _ in 0..<10 { #expect(balancer.pick(using: &generator, now: seconds(1)) != first) }
        balancer.requestFinished(on: first, latency: 5, outcome: .success, now: seconds(2))
        #expect(throws: BalancingError.duplicateBackend(1)) {
            try balancer.updateBackends([Backend(id: 1), Backend(id: 1)], now: seconds(3))
        }
    }

    @Test("ejecting a backend moves only its own keys under consistent hashing, and they come back with it")
    func hashingWithHealth() throws {
        let health = HealthConfiguration(
            outlierDetection: try .init(consecutiveFailures: 1, ejectionTimeBase: .seconds(5)))
        var balancer = try Balancer(
            backends: backends(6), policy: RingHashPolicy(configuration: .standard), health: health)
        var generator = SplitMix64(seed: 24)
        func placeAll(at now: BalancerTime) -> [BackendID] {
            (0..<600).map { index in
                let chosen = balancer.pick(
                    for: BalancingRequest(affinityKey: RequestKey(hashing: "session-\(index)")), using: &generator,
                    now: now)!
                balancer.requestFinished(on: chosen, latency: 1, outcome: .success, now: now)
                return chosen
            }
        }
        let before = placeAll(at: seconds(0))
        let ejected = balancer.pick(
            for: BalancingRequest(affinityKey: RequestKey(hashing: "session-0")), using: &generator, now: seconds(1))!
        #expect(balancer.requestFinished(on: ejected, latency: 1, outcome: .failure, now: seconds(1)) == seconds(6))
        let during = placeAll(at: seconds(2))
        for (old, new) in zip(before, during) {
            #expect(old == ejected ? new != ejected : new == old)
        }
        #expect(placeAll(at: seconds(6)) == before)
    }

    @Test("a clock that steps back reads as no time passed")
    func timeArithmetic() {
        #expect(seconds(1).duration(since: seconds(2)) == .zero)
        #expect(seconds(2).duration(since: seconds(1)) == .seconds(1))
        #expect(BalancerDuration.seconds(1).saturatingMultiplied(by: .max) == BalancerDuration(microseconds: .max))
        #expect(BalancerDuration.milliseconds(3).description == "3ms")
    }

    @Test("the platform-independent logarithm and exponential are accurate")
    func deterministicMath() {
        let cases: [(Double, Double)] = [
            (1, 0), (2, 0.693_147_180_559_945_3), (10, 2.302_585_092_994_046), (0.5, -0.693_147_180_559_945_3),
            (1e-300, -690.775_527_898_213_7), (2.718_281_828_459_045, 1),
        ]
        for (x, expected) in cases {
            #expect(abs(DeterministicMath.naturalLog(x) - expected) <= 1e-14 * max(1, abs(expected)), "ln \(x)")
        }
        var generator = SplitMix64(seed: 23)
        for _ in 0..<1_000 {
            let x = Double.random(in: -50...50, using: &generator)
            let roundTrip = DeterministicMath.naturalLog(DeterministicMath.exponential(x))
            #expect(abs(roundTrip - x) < 1e-12 * max(1, abs(x)), "ln(exp(\(x))) = \(roundTrip)")
        }
        #expect(DeterministicMath.exponential(0) == 1)
        #expect(DeterministicMath.exponential(-1_000) == 0)
        #expect(abs(DeterministicMath.exponential(1) - 2.718_281_828_459_045) < 1e-15)
    }
}

@Suite("Programmer errors")
struct ProgrammerErrorTests {
    @Test("finishing a request that was never started stops the process: the caller's bookkeeping is broken")
    func finishWithoutStart() async {
        await #expect(processExitsWith: .failure) {
            var outstanding = OutstandingRequests()
            outstanding.finished(on: 1)
        }
    }

    @Test("a zero weight from code (not from outside) is a precondition failure")
    func zeroWeight() async {
        await #expect(processExitsWith: .failure) {
            _ = Weight(0)
        }
    }
}
