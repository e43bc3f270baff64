import Testing

@testable import QuorumStore

@Suite("Exactly-once sessions")
struct SessionTests {
    static func put(_ key: String, _ value: String, client: ClientID, sequence: SequenceNumber) -> StoreProposal {
        StoreProposal(
            .put(PutRequest(key: b(key), value: b(value))), session: ClientSession(client: client, sequence: sequence))
    }

    @Test("a retried sequence returns the cached result without applying again")
    func duplicateIsNotReapplied() {
        var store = KeyValueStore()
        let first = store.apply(Self.put("a", "1", client: 9, sequence: 1))
        let retry = store.apply(Self.put("a", "1", client: 9, sequence: 1))
        #expect(retry.wasDuplicate)
        #expect(retry.result == first.result)
        #expect(retry.events.isEmpty)
        #expect(store.revision == 1)
        #expect(store.get(b("a"))?.version == 1)
        let next = store.apply(Self.put("a", "2", client: 9, sequence: 2))
        #expect(!next.wasDuplicate)
        #expect(store.revision == 2)
    }

    @Test("an older sequence is refused as stale and other clients are independent")
    func staleSequence() {
        var store = KeyValueStore()
        _ = store.apply(Self.put("a", "1", client: 9, sequence: 5))
        let stale = store.apply(Self.put("a", "1", client: 9, sequence: 4))
        #expect(stale.result.failure == .staleSequence(client: 9, sequence: 4, latest: 5))
        let other = store.apply(Self.put("a", "2", client: 10, sequence: 1))
        #expect(!other.wasDuplicate)
        #expect(store.revision == 2)
    }

    @Test("a refused command is cached too, so its retry gets the same refusal")
    func refusalsAreCached() {
        var store = KeyValueStore()
        let proposal = StoreProposal(
            .put(PutRequest(key: b("a"), value: [], lease: 3)), session: ClientSession(client: 1, sequence: 1))
        _ = store.apply(proposal)
        _ = store.apply(.leaseGrant(id: 3, ttl: LeaseTTL(seconds: 10), grantedAt: 0))
        let retry = store.apply(proposal)
        #expect(retry.wasDuplicate)
        #expect(retry.result.failure == .leaseNotFound(3))
    }

    @Test("closing a session forgets it")
    func closeSession() {
        var store = KeyValueStore()
        _ = store.apply(Self.put("a", "1", client: 9, sequence: 1))
        _ = store.apply(.closeSession(9))
        let sessions = store.sessions
        #expect(sessions.isEmpty)
        #expect(!store.apply(Self.put("a", "1", client: 9, sequence: 1)).wasDuplicate)
    }

    @Test("sessions beyond the limit evict the least recently used tenth")
    func boundedSessions() {
        var store = KeyValueStore(limits: StoreLimits(sessionsMax: 20))
        for client in 1...20 { _ = store.apply(Self.put("k", "v", client: ClientID(UInt64(client)), sequence: 1)) }
        _ = store.apply(Self.put("k", "v", client: 1, sequence: 1))  // client 1 is now the most recent
        _ = store.apply(Self.put("k", "v", client: 21, sequence: 1))
        let kept = Set(store.sessions.keys)
        #expect(kept.count == 18)
        #expect(kept.contains(1) && kept.contains(5))
        #expect(!kept.contains(2) && !kept.contains(3) && !kept.contains(4))
    }
}
