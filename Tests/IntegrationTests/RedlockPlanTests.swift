import QuorumClient
import QuorumConsensus
import Testing

/// The pure Redlock decisions; no servers. (In this target because QuorumClient has no unit-test target of its own.)
@Suite("Redlock plan")
struct RedlockPlanTests {
    private func plan(servers: Int, _ configuration: RedlockConfiguration = RedlockConfiguration()) -> RedlockPlan {
        RedlockPlan(serverCount: servers, configuration: configuration)
    }

    @Test("a majority is N/2+1", arguments: [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
    func majority(servers: Int, expected: Int) {
        #expect(plan(servers: servers).majority == expected)
    }

    @Test("held with a majority of grants, not held with one fewer", arguments: 1...7)
    func majorityDecides(servers: Int) {
        let plan = plan(servers: servers)
        let granted = Array(repeating: RedlockPlan.Answer.granted, count: plan.majority)
        let rest = Array(repeating: RedlockPlan.Answer.heldByAnother, count: servers - plan.majority)
        #expect(
            plan.outcome(of: granted + rest, elapsed: .milliseconds(5))
                == .held(validity: plan.validity(afterAcquiringIn: .milliseconds(5))))

        let short = Array(granted.dropLast()) + [.failed("127.0.0.1:1: connection refused")] + rest
        #expect(
            plan.outcome(of: short, elapsed: .milliseconds(5))
                == .notHeld(
                    .noMajority(
                        granted: plan.majority - 1, needed: plan.majority, of: servers,
                        errors: ["127.0.0.1:1: connection refused"])))
    }

    @Test("validity is the TTL less the time taken and the drift (TTL × factor + 2 ms)")
    func validityAllowsForDrift() {
        let plan = plan(servers: 3, RedlockConfiguration(ttl: .seconds(10), driftFactor: 0.01))
        #expect(plan.drift == .milliseconds(102))
        #expect(plan.validity(afterAcquiringIn: .milliseconds(30)) == .milliseconds(10_000 - 30 - 102))
        #expect(plan.ttlMilliseconds == 10_000)
    }

    @Test("a majority that took the whole validity is not a lock")
    func tooSlowIsNotHeld() {
        let plan = plan(servers: 3, RedlockConfiguration(ttl: .milliseconds(100), driftFactor: 0.01))
        // Drift is 1 ms + 2 ms: 97 ms taken leaves nothing, 96 ms leaves 1 ms.
        #expect(
            plan.outcome(of: [.granted, .granted, .granted], elapsed: .milliseconds(96))
                == .held(validity: .milliseconds(1)))
        #expect(
            plan.outcome(of: [.granted, .granted, .granted], elapsed: .milliseconds(97))
                == .notHeld(.tooSlow(elapsed: .milliseconds(97), ttl: .milliseconds(100))))
    }

    @Test("PX is the TTL in whole milliseconds, rounded down")
    func ttlMilliseconds() {
        #expect(plan(servers: 1, RedlockConfiguration(ttl: .microseconds(1_500_999))).ttlMilliseconds == 1500)
    }

    @Test("retries stop after retryCount retries")
    func retryCount() {
        let plan = plan(servers: 3, RedlockConfiguration(retryCount: 2))
        #expect((1...4).map { plan.shouldRetry(afterAttempt: $0) } == [true, true, false, false])
        #expect(!self.plan(servers: 3, RedlockConfiguration(retryCount: 0)).shouldRetry(afterAttempt: 1))
    }

    @Test("the retry delay stays within delay ... delay + jitter, spreads over it, and replays from a seed")
    func jitter() {
        let plan = plan(
            servers: 3, RedlockConfiguration(retryDelay: .milliseconds(200), retryJitter: .milliseconds(100)))
        var random = SplitMix64(seed: 7)
        let delays = (0..<1000).map { _ in plan.delayBeforeRetry(using: &random) }
        #expect(delays.allSatisfy { (.milliseconds(200)...(.milliseconds(300))).contains($0) })
        // Spread: both quarters at the edges of the range are hit.
        #expect(delays.contains { $0 < .milliseconds(225) } && delays.contains { $0 > .milliseconds(275) })

        var again = SplitMix64(seed: 7)
        #expect((0..<1000).map { _ in plan.delayBeforeRetry(using: &again) } == delays)
        var other = SplitMix64(seed: 8)
        #expect((0..<1000).map { _ in plan.delayBeforeRetry(using: &other) } != delays)
    }

    @Test("no jitter means exactly the retry delay")
    func noJitter() {
        let plan = plan(servers: 3, RedlockConfiguration(retryDelay: .milliseconds(50), retryJitter: .zero))
        var random = SplitMix64(seed: 1)
        #expect(plan.delayBeforeRetry(using: &random) == .milliseconds(50))
    }
}
