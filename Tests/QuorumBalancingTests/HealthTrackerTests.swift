import QuorumConsensus
import Testing

@testable import QuorumBalancing

@Suite("Active checks, slow start and panic threshold")
struct HealthTrackerTests {
    @Test("active checks take a backend down after the unhealthy threshold and back after the healthy one")
    func activeChecks() throws {
        var tracker = HealthTracker(
            configuration: HealthConfiguration(activeChecks: try .init(unhealthyThreshold: 3, healthyThreshold: 2)),
            initialBackends: [1, 2])
        tracker.recordCheck(.failed, for: 1, now: seconds(1))
        tracker.recordCheck(.failed, for: 1, now: seconds(2))
        tracker.recordCheck(.passed, for: 1, now: seconds(3))
        tracker.recordCheck(.failed, for: 1, now: seconds(4))
        tracker.recordCheck(.failed, for: 1, now: seconds(5))
        #expect(tracker.status(of: 1, now: seconds(5)) == .healthy, "a pass in between resets the count")
        tracker.recordCheck(.failed, for: 1, now: seconds(6))
        #expect(tracker.status(of: 1, now: seconds(6)) == .failingChecks)
        tracker.recordCheck(.passed, for: 1, now: seconds(7))
        #expect(tracker.status(of: 1, now: seconds(7)) == .failingChecks)
        tracker.recordCheck(.passed, for: 1, now: seconds(8))
        #expect(tracker.status(of: 1, now: seconds(8)) == .healthy)
        tracker.recordCheck(.failed, for: 99, now: seconds(8))
        #expect(!tracker.isTracking(99), "checks of an unknown backend are ignored")
    }

    @Test("slow start ramps a returning backend's weight linearly from the minimum to full over the window")
    func slowStartRamps() throws {
        let slowStart = try SlowStart(window: .seconds(10), minimumWeight: 10)
        var tracker = HealthTracker(
            configuration: HealthConfiguration(
                activeChecks: try .init(unhealthyThreshold: 1, healthyThreshold: 1), slowStart: slowStart),
            initialBackends: [1, 2])
        let all = backends(weights: [4, 4])
        #expect(tracker.candidates(from: all, now: seconds(0)).backends == all, "initial backends start warm")
        tracker.recordCheck(.failed, for: 2, now: seconds(0))
        tracker.recordCheck(.passed, for: 2, now: seconds(100))
        var previous = 0.0
        var weights: [Double] = []
        for second: UInt64 in stride(from: 100, through: 112, by: 1) {
            let weight = tracker.candidates(from: all, now: seconds(second)).backends[1].weight.rawValue
            #expect(weight >= previous, "the ramp never goes down")
            previous = weight
            weights.append(weight)
        }
        #expect(weights[0] == 0.4, "10% of 4 at the start")
        #expect(weights[5] == 2, "half way through")
        #expect(weights[10] == 4 && weights[12] == 4, "full weight from the end of the window")
        #expect(tracker.candidates(from: all, now: seconds(105), followsSlowStart: false).backends[1].weight == 4)
    }

    @Test("slow start also ramps a backend back from ejection and a newly joined one, and shifts traffic gradually")
    func slowStartAfterEjectionAndJoin() throws {
        let health = HealthConfiguration(
            outlierDetection: try .init(consecutiveFailures: 1, ejectionTimeBase: .seconds(5)),
            slowStart: try SlowStart(window: .seconds(10), minimumWeight: 10))
        var balancer = try Balancer(backends: backends(2), policy: SmoothWeightedRoundRobinPolicy(), health: health)
        var generator = SplitMix64(seed: 19)
        let picked = balancer.pick(using: &generator, now: seconds(0))!
        balancer.requestFinished(on: picked, latency: 1, outcome: .failure, now: seconds(0))
        #expect(balancer.candidates(now: seconds(5)).backends.first { $0.id == picked }!.weight.rawValue == 0.1)

        try balancer.updateBackends(backends(3), now: seconds(20))
        // Share of the newcomer in successive 2-second slices of 100 picks each: it grows towards a third.
        var shares: [Double] = []
        for slice: UInt64 in 0..<6 {
            var newcomer = 0
            for _ in 0..<100 {
                let chosen = balancer.pick(using: &generator, now: seconds(20 + 2 * slice))!
                if chosen == 3 { newcomer += 1 }
                balancer.requestFinished(on: chosen, latency: 1, outcome: .success, now: seconds(20 + 2 * slice))
            }
            shares.append(Double(newcomer) / 100)
        }
        #expect(shares.first! < 0.1 && shares.last! > 0.3, "\(shares)")
        #expect(zip(shares, shares.dropFirst()).allSatisfy { $0 <= $1 + 0.02 }, "\(shares)")
    }

    @Test("below the panic threshold the balancer uses every backend, healthy or not")
    func panicThreshold() throws {
        let health = HealthConfiguration(
            activeChecks: try .init(unhealthyThreshold: 1, healthyThreshold: 1), panicThreshold: 50)
        var tracker = HealthTracker(configuration: health, initialBackends: backends(10).map(\.id))
        for id: UInt64 in 1...5 { tracker.recordCheck(.failed, for: BackendID(id), now: seconds(0)) }
        let half = tracker.candidates(from: backends(10), now: seconds(0))
        #expect(!half.isPanicking && half.backends.count == 5 && half.healthyCount == 5)

        tracker.recordCheck(.failed, for: 6, now: seconds(0))
        let panicking = tracker.candidates(from: backends(10), now: seconds(0))
        #expect(panicking.isPanicking && panicking.backends == backends(10) && panicking.healthyCount == 4)

        tracker.recordCheck(.passed, for: 6, now: seconds(1))
        #expect(!tracker.candidates(from: backends(10), now: seconds(1)).isPanicking)
    }

    @Test("with panic disabled and every backend down, there is nothing to pick")
    func noPanicNoBackends() throws {
        let health = HealthConfiguration(
            activeChecks: try .init(unhealthyThreshold: 1, healthyThreshold: 1), panicThreshold: 0)
        var balancer = try Balancer(backends: backends(2), policy: RoundRobinPolicy(), health: health)
        balancer.recordCheck(.failed, for: 1, now: seconds(0))
        balancer.recordCheck(.failed, for: 2, now: seconds(0))
        var generator = SplitMix64(seed: 20)
        #expect(balancer.pick(using: &generator, now: seconds(0)) == nil)
    }
}
