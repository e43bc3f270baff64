import Testing

@testable import QuorumStore

@Suite("Sequential keys")
struct SequentialKeyTests {
    private func sequentialPut(_ store: inout KeyValueStore, _ prefix: String, lease: LeaseID? = nil) -> String? {
        let request = PutRequest(key: b(prefix), value: b("v"), lease: lease, sequential: true)
        guard case .put(let response) = store.apply(.put(request)).result else { return nil }
        return response.sequentialKey.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("a sequential put appends a zero-padded counter that grows across prefixes and survives deletion")
    func countersGrow() throws {
        var store = KeyValueStore()
        #expect(sequentialPut(&store, "queue/") == "queue/00000000000000000001")
        #expect(sequentialPut(&store, "queue/") == "queue/00000000000000000002")
        #expect(sequentialPut(&store, "other/") == "other/00000000000000000003")
        _ = store.apply(.deleteRange(DeleteRangeRequest(key: b("queue/"), rangeEnd: b("queue0"))))
        #expect(sequentialPut(&store, "queue/") == "queue/00000000000000000004", "numbers are never reused")
        #expect(try store.pairs(.prefix(b("queue/"))) == ["queue/00000000000000000004=v"])
    }

    @Test("sequential puts in one transaction get distinct keys in order, and a plain put answers no key")
    func inTransactions() throws {
        var store = KeyValueStore()
        let put = PutRequest(key: b("q/"), value: b("v"), sequential: true)
        let applied = store.apply(.transaction(TransactionRequest(compare: [], success: [.put(put), .put(put)])))
        guard case .transaction(let response) = applied.result else { Issue.record("\(applied.result)"); return }
        let keys = response.responses.compactMap { operation -> String? in
            guard case .put(let put) = operation else { return nil }
            return put.sequentialKey.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(keys == ["q/00000000000000000001", "q/00000000000000000002"])
        guard case .put(let plain) = store.apply(.put(PutRequest(key: b("k"), value: b("v")))).result else {
            Issue.record("plain put failed")
            return
        }
        #expect(plain.sequentialKey == nil)
    }

    @Test("a sequential key can be ephemeral, and ignoreValue / ignoreLease are refused since it is always new")
    func ephemeralAndRefusals() throws {
        var store = KeyValueStore()
        _ = store.apply(.leaseGrant(id: 9, ttl: LeaseTTL(milliseconds: 1_500), grantedAt: 0))
        let key = try #require(sequentialPut(&store, "members/", lease: 9))
        #expect(try store.timeToLive(of: 9, now: 0).keys == [b(key)])
        #expect(store.expiredLeases(now: 1_499, limit: 10).isEmpty)
        #expect(store.expiredLeases(now: 1_500, limit: 10) == [9], "a millisecond TTL expires to the millisecond")
        _ = store.apply(.leaseRevoke(9))
        #expect(try store.pairs(.prefix(b("members/"))).isEmpty)
        let keeping = PutRequest(key: b("members/"), value: [], ignoreValue: true, sequential: true)
        #expect(store.apply(.put(keeping)).result.failure == .keyNotFound(key: b("members/")))
        let tooLong = PutRequest(key: Array(repeating: 0x61, count: store.limits.keyBytesMax - 5), value: [], sequential: true)
        #expect(store.apply(.put(tooLong)).result.failure != nil, "the prefix and its 20 digits must fit the key limit")
    }

    @Test("the sequence counter is part of a snapshot, so a restored replica never hands out a number again")
    func snapshotKeepsCounter() throws {
        var store = KeyValueStore()
        _ = sequentialPut(&store, "q/")
        _ = sequentialPut(&store, "q/")
        var restored = try KeyValueStore(restoringFrom: store.snapshot())
        #expect(sequentialPut(&restored, "q/") == "q/00000000000000000003")
        #expect(sequentialPut(&store, "q/") == "q/00000000000000000003")
        #expect(restored.snapshot() == store.snapshot())
    }

    @Test("sequential puts and their answers survive the codecs")
    func codecs() throws {
        let put = PutRequest(key: b("q/"), value: b("v"), lease: 3, sequential: true)
        #expect(try StoreCommand(decoding: StoreCommand.put(put).encoded) == .put(put))
        let result = StoreResult.put(PutResponse(revision: 4, prevKV: nil, sequentialKey: b("q/00000000000000000001")))
        #expect(try StoreResult(decoding: result.encoded) == result)
    }
}
