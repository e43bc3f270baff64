import Testing

@testable import QuorumBalancing

@Suite("Outlier detection")
struct OutlierDetectionTests {
    static func tracker(
        consecutiveFailures: Int? = 3, errorRate: ErrorRateRule? = nil, backends count: Int = 4,
        ejectedPercentageMax: Percentage = 50
    ) throws -> HealthTracker {
        let detection = try OutlierDetection(
            consecutiveFailures: consecutiveFailures, errorRate: errorRate, ejectionTimeBase: .seconds(10),
            ejectionTimeMax: .seconds(80), ejectedPercentageMax: ejectedPercentageMax)
        return HealthTracker(
            configuration: HealthConfiguration(outlierDetection: detection, panicThreshold: 0),
            initialBackends: backends(count).map(\.id))
    }

    /// Feeds `count` failures to backend 1 at `now`; returns the ejection end if one of them ejected it.
    static func fail(_ tracker: inout HealthTracker, _ count: Int, at now: BalancerTime) -> BalancerTime? {
        var ejection: BalancerTime?
        for _ in 0..<count { ejection = tracker.recordOutcome(.failure, for: 1, now: now) ?? ejection }
        return ejection
    }

    @Test("a backend is ejected after N consecutive failures, not before, and a success resets the count")
    func ejectsAfterConsecutiveFailures() throws {
        var tracker = try Self.tracker()
        #expect(Self.fail(&tracker, 2, at: seconds(1)) == nil)
        tracker.recordOutcome(.success, for: 1, now: seconds(1))
        #expect(Self.fail(&tracker, 2, at: seconds(1)) == nil)
        #expect(tracker.status(of: 1, now: seconds(1)) == .healthy)
        #expect(Self.fail(&tracker, 1, at: seconds(1)) == seconds(11))
        #expect(tracker.status(of: 1, now: seconds(1)) == .ejected(until: seconds(11)))
        #expect(!tracker.candidates(from: backends(4), now: seconds(5)).backends.contains { $0.id == 1 })
    }

    @Test("an ejected backend returns when its ejection time is over")
    func returnsAfterWindow() throws {
        var tracker = try Self.tracker()
        _ = Self.fail(&tracker, 3, at: seconds(0))
        #expect(tracker.status(of: 1, now: BalancerTime(microseconds: 9_999_999)) == .ejected(until: seconds(10)))
        #expect(tracker.status(of: 1, now: seconds(10)) == .healthy)
        #expect(tracker.candidates(from: backends(4), now: seconds(10)).backends.count == 4)
    }

    @Test("an ejected backend that active checks saw go down and come back returns at once; one that kept passing them does not")
    func activeRecoveryEndsEjection() throws {
        let detection = try OutlierDetection(consecutiveFailures: 3, ejectionTimeBase: .seconds(30))
        var tracker = HealthTracker(
            configuration: HealthConfiguration(
                activeChecks: try .init(unhealthyThreshold: 2, healthyThreshold: 2), outlierDetection: detection,
                panicThreshold: 0),
            initialBackends: [1, 2, 3, 4])
        // Two of the four are ejected by failed requests at 0 s, until 30 s.
        for id: BackendID in [1, 2] {
            for _ in 0..<3 { tracker.recordOutcome(.failure, for: id, now: seconds(0)) }
            #expect(tracker.status(of: id, now: seconds(0)) == .ejected(until: seconds(30)))
        }
        // 1 was killed: its checks fail, then it is restarted and they pass again. 2 passes its checks throughout.
        tracker.recordCheck(.failed, for: 1, now: seconds(2))
        tracker.recordCheck(.failed, for: 1, now: seconds(4))
        tracker.recordCheck(.passed, for: 1, now: seconds(6))
        #expect(tracker.status(of: 1, now: seconds(6)) == .ejected(until: seconds(30)), "one pass is not enough")
        tracker.recordCheck(.passed, for: 1, now: seconds(8))
        #expect(tracker.status(of: 1, now: seconds(8)) == .healthy)
        for second: UInt64 in [2, 4, 6, 8] { tracker.recordCheck(.passed, for: 2, now: seconds(second)) }
        #expect(tracker.status(of: 2, now: seconds(8)) == .ejected(until: seconds(30)))
        // The back-off still counts the ejection: failing again soon ejects 1 for twice as long.
        for _ in 0..<3 { tracker.recordOutcome(.failure, for: 1, now: seconds(9)) }
        #expect(tracker.status(of: 1, now: seconds(9)) == .ejected(until: seconds(69)))
    }

    @Test("repeated ejections back off exponentially up to the maximum, and the back-off resets after good behaviour")
    func exponentialBackoff() throws {
        var tracker = try Self.tracker()
        var now = seconds(0)
        var durations: [UInt64] = []
        for _ in 0..<6 {
            let until = try #require(Self.fail(&tracker, 3, at: now))
            durations.append(until.duration(since: now).microseconds / 1_000_000)
            now = until  // fails again the moment it returns
        }
        #expect(durations == [10, 20, 40, 80, 80, 80])

        // In for the maximum ejection time since it last returned: the next ejection starts over at the base.
        now = now + .seconds(80)
        let until = try #require(Self.fail(&tracker, 3, at: now))
        #expect(until.duration(since: now) == .seconds(10))
    }

    @Test("failures of requests still in flight during an ejection are not held against the backend")
    func ignoresOutcomesWhileEjected() throws {
        var tracker = try Self.tracker()
        _ = Self.fail(&tracker, 3, at: seconds(0))
        #expect(Self.fail(&tracker, 10, at: seconds(5)) == nil)
        #expect(tracker.status(of: 1, now: seconds(10)) == .healthy)
        #expect(Self.fail(&tracker, 2, at: seconds(10)) == nil, "the count starts afresh after the ejection")
    }

    @Test("a high error rate over the window ejects even without consecutive failures")
    func errorRateEjects() throws {
        let rule = try ErrorRateRule(threshold: 50, window: .seconds(10), requestsMin: 10)
        var tracker = try Self.tracker(consecutiveFailures: nil, errorRate: rule)
        for _ in 0..<20 {
            tracker.recordOutcome(.success, for: 1, now: seconds(0))
            tracker.recordOutcome(.failure, for: 1, now: seconds(0))
        }
        // That was 50% of 40, over the minimum: ejected.
        #expect(tracker.status(of: 1, now: seconds(0)) == .ejected(until: seconds(10)))

        var fresh = try Self.tracker(consecutiveFailures: nil, errorRate: rule)
        for _ in 0..<8 { fresh.recordOutcome(.failure, for: 1, now: seconds(0)) }
        // Eight failures, but fewer than the minimum of ten requests: too little to judge.
        #expect(fresh.status(of: 1, now: seconds(0)) == .healthy)
        // Twelve seconds later those are out of the window; 2 failures among 10 is 20%.
        for index in 0..<10 { fresh.recordOutcome(index < 2 ? .failure : .success, for: 1, now: seconds(12)) }
        #expect(fresh.status(of: 1, now: seconds(12)) == .healthy)
        for _ in 0..<4 { fresh.recordOutcome(.failure, for: 1, now: seconds(13)) }
        // 6 of 14 is 43%: still in. One more makes 7 of 15 (47%), and another 8 of 16: ejected.
        #expect(fresh.status(of: 1, now: seconds(13)) == .healthy)
        fresh.recordOutcome(.failure, for: 1, now: seconds(13))
        fresh.recordOutcome(.failure, for: 1, now: seconds(13))
        #expect(fresh.status(of: 1, now: seconds(13)) == .ejected(until: seconds(23)))
    }

    @Test("no more than the maximum share of backends is ejected at once, though one always may be")
    func ejectionLimit() throws {
        var tracker = try Self.tracker(backends: 4, ejectedPercentageMax: 50)
        for id: BackendID in [1, 2, 3] {
            for _ in 0..<3 { tracker.recordOutcome(.failure, for: id, now: seconds(0)) }
        }
        #expect(tracker.status(of: 1, now: seconds(0)) != .healthy)
        #expect(tracker.status(of: 2, now: seconds(0)) != .healthy)
        #expect(tracker.status(of: 3, now: seconds(0)) == .healthy)

        var single = try Self.tracker(backends: 1, ejectedPercentageMax: 0)
        #expect(Self.fail(&single, 3, at: seconds(0)) != nil)
    }

    @Test("outlier configuration refuses values that cannot work")
    func validation() {
        #expect(throws: BalancingError.self) { try OutlierDetection(consecutiveFailures: 0) }
        #expect(throws: BalancingError.self) {
            try OutlierDetection(ejectionTimeBase: .seconds(100), ejectionTimeMax: .seconds(10))
        }
        #expect(throws: BalancingError.self) { try ErrorRateRule(threshold: 0) }
        #expect(throws: BalancingError.self) { try ActiveHealthChecks(unhealthyThreshold: 0) }
        #expect(throws: BalancingError.self) { try SlowStart(window: .zero) }
    }
}
