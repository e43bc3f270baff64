import QuorumConsensus
import Testing

@testable import QuorumStore

@Suite("Leases")
struct LeaseTests {
    @Test("revoking a lease deletes all its keys in one revision")
    func revokeDeletesKeysInOneRevision() throws {
        var store = KeyValueStore()
        _ = store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 10), grantedAt: 1_000))
        store.put("a", "1", lease: 1)
        store.put("b", "2", lease: 1)
        store.put("c", "3")
        let revoked = store.apply(.leaseRevoke(1))
        #expect(revoked.result == .leaseRevoked(revision: 4))
        #expect(revoked.events.map(\.kind) == [.delete, .delete])
        #expect(revoked.events.map(\.kv.key) == [b("a"), b("b")])
        #expect(revoked.events.allSatisfy { $0.revision == 4 })
        #expect(try store.pairs(.all()) == ["c=3"])
        #expect(store.leaseIDs().isEmpty)
        #expect(!store.hasLease(1))
        #expect(store.apply(.leaseRevoke(1)).result.failure == .leaseNotFound(1))
    }

    @Test("revoking a lease without keys takes no revision")
    func revokeWithoutKeys() {
        var store = KeyValueStore()
        _ = store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 10), grantedAt: 0))
        #expect(store.apply(.leaseRevoke(1)).events.isEmpty)
        #expect(store.revision == 0)
    }

    @Test("a key moved to another lease or deleted no longer dies with the first lease")
    func reattachment() throws {
        var store = KeyValueStore()
        _ = store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 10), grantedAt: 0))
        _ = store.apply(.leaseGrant(id: 2, ttl: LeaseTTL(seconds: 10), grantedAt: 0))
        store.put("a", "1", lease: 1)
        store.put("b", "1", lease: 1)
        store.put("a", "2", lease: 2)
        store.delete("b")
        store.put("b", "again")
        _ = store.apply(.leaseRevoke(1))
        #expect(try store.pairs(.all()) == ["a=2", "b=again"])
        #expect(try store.timeToLive(of: 2, now: 0).keys == [b("a")])
    }

    @Test("expiredLeases reports leases past their deadline, earliest first, at most limit of them")
    func expiry() {
        var store = KeyValueStore()
        _ = store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 5), grantedAt: 0))  // deadline 5 000
        _ = store.apply(.leaseGrant(id: 2, ttl: LeaseTTL(seconds: 2), grantedAt: 0))  // deadline 2 000
        _ = store.apply(.leaseGrant(id: 3, ttl: LeaseTTL(seconds: 60), grantedAt: 0))  // deadline 60 000
        #expect(store.expiredLeases(now: 1_999, limit: 10) == [])
        #expect(store.expiredLeases(now: 2_000, limit: 10) == [2])
        #expect(store.expiredLeases(now: 10_000, limit: 10) == [2, 1])
        #expect(store.expiredLeases(now: 10_000, limit: 1) == [2])
        _ = store.apply(.leaseKeepAlive(id: 1, at: 4_000))  // deadline 9 000
        #expect(store.expiredLeases(now: 8_000, limit: 10) == [2])
    }

    @Test("a leader proposes each expired lease's revocation once, a bounded number a tick, and afresh after a lapse")
    func revocationsAreProposedOnce() {
        var store = KeyValueStore()
        for id: LeaseID in [1, 2, 3] { _ = store.apply(.leaseGrant(id: id, ttl: LeaseTTL(seconds: 1), grantedAt: 0)) }
        var revocations = LeaseRevocations(perTick: 2)
        #expect(revocations.due(in: store, now: 999, isLeader: true).isEmpty)
        let first = revocations.due(in: store, now: 1_000, isLeader: true)
        #expect(first == [1, 2], "at most perTick a tick")
        first.forEach { revocations.proposed($0) }
        #expect(revocations.due(in: store, now: 1_010, isLeader: true) == [3], "none proposed twice while in flight")
        revocations.proposed(3)
        _ = store.apply(.leaseRevoke(1))
        #expect(revocations.due(in: store, now: 1_020, isLeader: true).isEmpty)
        #expect(revocations.inFlight == [2, 3], "an applied revocation leaves the flight")
        #expect(revocations.due(in: store, now: 1_030, isLeader: false).isEmpty, "only a leader revokes")
        #expect(revocations.inFlight.isEmpty)
        #expect(
            revocations.due(in: store, now: 1_040, isLeader: true) == [2, 3],
            "leading again, it proposes what its last leadership may have lost")
    }

    @Test(
        "expiredLeases agrees with a filter and sort of every lease through grants, keep-alives, revokes and restores",
        arguments: [1, 2, 3] as [UInt64])
    func expiryOrderFollowsEveryChange(seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        var store = KeyValueStore()
        var clock: UInt64 = 0
        var nextID: UInt64 = 1
        func anyGranted() -> LeaseID? {
            let granted = store.leaseIDs()
            return granted.isEmpty ? nil : granted[Int(generator.next() % UInt64(granted.count))]
        }
        for step in 0..<800 {
            switch generator.next() % 10 {
            case 0..<3:
                // TTLs and clock steps in whole tenths of a second, so deadlines collide and the id breaks ties;
                // a TTL of UInt64.max saturates the deadline.
                let ttl = LeaseTTL(milliseconds: generator.next() % 8 == 0 ? .max : 100 * (1 + generator.next() % 40))
                let id = LeaseID(nextID)
                nextID += 1
                let granted = store.apply(.leaseGrant(id: id, ttl: ttl, grantedAt: StoreTime(milliseconds: clock)))
                #expect(granted.result.failure == nil)
                if generator.next() % 3 == 0 { store.put("held/\(id.rawValue)", "x", lease: id) }
            case 3..<6:
                guard let id = anyGranted() else { break }
                let deadline = try store.timeToLive(of: id, now: StoreTime(milliseconds: clock)).deadline
                let result = store.apply(.leaseKeepAlive(id: id, at: StoreTime(milliseconds: clock))).result
                #expect((result.failure == nil) == (clock < deadline.milliseconds))
            case 6:
                guard let id = anyGranted() else { break }
                #expect(store.apply(.leaseRevoke(id)).result.failure == nil)
            case 7:
                for id in store.expiredLeases(now: StoreTime(milliseconds: clock), limit: 3) {
                    #expect(store.apply(.leaseRevoke(id)).result.failure == nil)
                }
            default:
                clock += 100 * (generator.next() % 4)
            }
            if step % 100 == 99 {
                let restored = try KeyValueStore(restoringFrom: store.snapshot())
                restored.checkInvariants()
                try expectExpiryMatchesBruteForce(restored, clock: clock, nextID: nextID, &generator)
                store = restored
            }
            store.checkInvariants()
            try expectExpiryMatchesBruteForce(store, clock: clock, nextID: nextID, &generator)
        }
    }

    /// Compares `expiredLeases` and `hasLease` with what every lease's `timeToLive` implies, at several times.
    private func expectExpiryMatchesBruteForce(
        _ store: KeyValueStore, clock: UInt64, nextID: UInt64, _ generator: inout SplitMix64
    ) throws {
        let granted = store.leaseIDs()
        let deadlines = try granted.map { (id: $0, deadline: try store.timeToLive(of: $0, now: 0).deadline) }
        let times: [UInt64] = [0, clock, clock + 100 * (generator.next() % 50), clock + generator.next() % 5_000, .max]
        for time in times.map(StoreTime.init(milliseconds:)) {
            let due = deadlines.filter { $0.deadline <= time }.sorted { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
            for limit in [0, 1, 3, Int.max] {
                #expect(
                    store.expiredLeases(now: time, limit: limit) == due.prefix(limit).map(\.id),
                    "at \(time) with limit \(limit)")
            }
        }
        let grantedSet = Set(granted)
        for raw in 0...nextID { #expect(store.hasLease(LeaseID(raw)) == grantedSet.contains(LeaseID(raw))) }
    }

    @Test("the leader's expiry loop revokes what expiredLeases reports, a limited number per round")
    func leaderExpiryLoop() throws {
        var store = KeyValueStore()
        for id in 1...5 as ClosedRange<UInt64> {
            _ = store.apply(.leaseGrant(id: LeaseID(id), ttl: LeaseTTL(seconds: id), grantedAt: 0))
            store.put("session/\(id)", "alive", lease: LeaseID(id))
        }
        // The leader's clock reads 3.5 s: leases 1, 2 and 3 have expired; it may revoke two per round.
        var rounds: [[LeaseID]] = []
        var events: [WatchEvent] = []
        while case let expired = store.expiredLeases(now: 3_500, limit: 2), !expired.isEmpty {
            rounds.append(expired)
            for id in expired { events += store.apply(.leaseRevoke(id)).events }
        }
        #expect(rounds == [[1, 2], [3]])
        #expect(events.map(\.kind) == [.delete, .delete, .delete])
        #expect(try store.pairs(.prefix(b("session/"))) == ["session/4=alive", "session/5=alive"])
        #expect(store.leaseIDs() == [4, 5])
    }

    @Test("a keep-alive renews from its time; one after the deadline is refused as the lease is gone")
    func keepAlive() throws {
        var store = KeyValueStore()
        _ = store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 10), grantedAt: 0))
        #expect(
            store.apply(.leaseKeepAlive(id: 1, at: 9_000)).result
                == .leaseKeptAlive(id: 1, ttl: LeaseTTL(seconds: 10), revision: 0))
        let status = try store.timeToLive(of: 1, now: 10_500)
        #expect(status.deadline == 19_000)
        #expect(status.remainingSeconds == 8)
        #expect(status.grantedTTL == LeaseTTL(seconds: 10))
        #expect(store.apply(.leaseKeepAlive(id: 1, at: 19_000)).result.failure == .leaseNotFound(1))
    }

    @Test("grants are refused for id 0, a zero TTL and an id in use")
    func grantRefusals() {
        var store = KeyValueStore()
        #expect(
            store.apply(.leaseGrant(id: 0, ttl: LeaseTTL(seconds: 1), grantedAt: 0)).result.failure == .invalidLeaseID)
        #expect(store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 0), grantedAt: 0)).result.failure == .invalidTTL)
        _ = store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 1), grantedAt: 0))
        #expect(
            store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 1), grantedAt: 0)).result.failure
                == .leaseAlreadyExists(1))
        #expect(store.leaseIDs() == [1])
    }
}
