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
        #expect(store.apply(.leaseKeepAlive(id: 1, at: 9_000)).result == .leaseKeptAlive(id: 1, ttl: LeaseTTL(seconds: 10), revision: 0))
        let status = try store.timeToLive(of: 1, now: 10_500)
        #expect(status.deadline == 19_000)
        #expect(status.remainingSeconds == 8)
        #expect(status.grantedTTL == LeaseTTL(seconds: 10))
        #expect(store.apply(.leaseKeepAlive(id: 1, at: 19_000)).result.failure == .leaseNotFound(1))
    }

    @Test("grants are refused for id 0, a zero TTL and an id in use")
    func grantRefusals() {
        var store = KeyValueStore()
        #expect(store.apply(.leaseGrant(id: 0, ttl: LeaseTTL(seconds: 1), grantedAt: 0)).result.failure == .invalidLeaseID)
        #expect(store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 0), grantedAt: 0)).result.failure == .invalidTTL)
        _ = store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 1), grantedAt: 0))
        #expect(store.apply(.leaseGrant(id: 1, ttl: LeaseTTL(seconds: 1), grantedAt: 0)).result.failure == .leaseAlreadyExists(1))
        #expect(store.leaseIDs() == [1])
    }
}
