import QuorumConsensus
import Testing

@testable import QuorumStore

@Suite("Key-value semantics (etcd v3)")
struct KeyValueStoreTests {
    @Test("an empty store is at revision 0 and the first write makes revision 1")
    func firstWriteIsRevisionOne() throws {
        var store = KeyValueStore()
        #expect(store.revision == 0)
        let applied = store.put("a", "1")
        #expect(applied.result.put?.revision == 1)
        #expect(store.revision == 1)
        let kv = try #require(store.get(b("a")))
        #expect(kv == KeyValue(key: b("a"), value: b("1"), createRevision: 1, modRevision: 1, version: 1))
    }

    @Test("each put bumps the revision, keeps createRevision and increments version")
    func putsTrackVersions() throws {
        var store = KeyValueStore()
        store.put("a", "1")
        store.put("b", "x")
        let second = store.put("a", "2", prevKV: true)
        #expect(second.result.put?.prevKV?.value == b("1"))
        let kv = try #require(store.get(b("a")))
        #expect(kv.createRevision == 1)
        #expect(kv.modRevision == 3)
        #expect(kv.version == 2)
    }

    @Test("a delete resets the version and the next put starts a new generation")
    func deleteResetsVersion() throws {
        var store = KeyValueStore()
        store.put("a", "1")
        store.put("a", "2")
        let deleted = store.delete("a", prevKV: true)
        #expect(deleted.result.deleteRange?.deleted == 1)
        #expect(deleted.result.deleteRange?.prevKVs.first?.version == 2)
        #expect(deleted.result.deleteRange?.revision == 3)
        #expect(store.get(b("a")) == nil)
        store.put("a", "3")
        let kv = try #require(store.get(b("a")))
        #expect(kv.createRevision == 4)
        #expect(kv.version == 1)
    }

    @Test("deleting nothing takes no revision")
    func emptyDeleteKeepsRevision() {
        var store = KeyValueStore()
        store.put("a", "1")
        let deleted = store.delete("zzz")
        #expect(deleted.result.deleteRange?.deleted == 0)
        #expect(deleted.events.isEmpty)
        #expect(store.revision == 1)
    }

    @Test("a range covers a single key, [start, end), a prefix and every key")
    func rangeBounds() throws {
        var store = KeyValueStore()
        for key in ["a", "ab", "abc", "b", "c"] { store.put(key, key.uppercased()) }
        #expect(try store.pairs(RangeRequest(key: b("ab"))) == ["ab=AB"])
        #expect(try store.pairs(RangeRequest(key: b("ab"), rangeEnd: b("b"))) == ["ab=AB", "abc=ABC"])
        #expect(try store.pairs(RangeRequest(key: b("ab"), rangeEnd: b("c"))) == ["ab=AB", "abc=ABC", "b=B"])
        #expect(try store.pairs(.prefix(b("a"))) == ["a=A", "ab=AB", "abc=ABC"])
        #expect(try store.pairs(.all()).count == 5)
        #expect(try store.pairs(RangeRequest(key: b("b"), rangeEnd: [0])) == ["b=B", "c=C"])
        #expect(try store.pairs(RangeRequest(key: b("zz"))) == [])
        #expect(
            try store.pairs(RangeRequest(key: b("ab"), rangeEnd: [])) == ["ab=AB"],
            "an empty end means one key, as in etcd")
    }

    @Test("a prefix of 0xff bytes ranges to the end of the key space")
    func prefixEndOfAllOnes() {
        #expect(KeyRange.prefixEnd(of: [0x61, 0xff]) == [0x62])
        #expect(KeyRange.prefixEnd(of: [0xff, 0xff]) == [0])
    }

    @Test("limit truncates the result but count and more report every match")
    func rangeLimit() throws {
        var store = KeyValueStore()
        for index in 0..<10 { store.put("k\(index)", "v") }
        let limited = try store.range(.prefix(b("k"), limit: 3))
        #expect(limited.kvs.map(\.key) == [b("k0"), b("k1"), b("k2")])
        #expect(limited.count == 10)
        #expect(limited.more)
        let exact = try store.range(.prefix(b("k"), limit: 10))
        #expect(!exact.more)
        let counted = try store.range(.prefix(b("k"), countOnly: true))
        #expect(counted.count == 10 && counted.kvs.isEmpty)
        let keysOnly = try store.range(.prefix(b("k"), limit: 1, keysOnly: true))
        #expect(keysOnly.kvs.first?.value == [])
        #expect(keysOnly.kvs.first?.version == 1)
    }

    @Test("a read at a past revision sees the state as it was, including deleted keys")
    func pastRevisionReads() throws {
        var store = KeyValueStore()
        store.put("a", "1")  // 1
        store.put("a", "2")  // 2
        store.put("b", "1")  // 3
        store.delete("a")  // 4
        #expect(try store.pairs(.all(revision: 1)) == ["a=1"])
        #expect(try store.pairs(.all(revision: 3)) == ["a=2", "b=1"])
        #expect(try store.pairs(.all(revision: 4)) == ["b=1"])
        #expect(try store.pairs(.all()) == ["b=1"])
        #expect(throws: StoreError.futureRevision(requested: 5, current: 4)) { try store.range(.all(revision: 5)) }
    }

    @Test("compaction makes older revisions fail with compacted and keeps the latest version of every live key")
    func compaction() throws {
        var store = KeyValueStore()
        for round in 0..<5 { store.put("a", "\(round)") }  // 1...5
        store.put("b", "x")  // 6
        store.delete("b")  // 7
        store.put("c", "y")  // 8
        let compacted = store.apply(.compact(7))
        #expect(compacted.result == .compacted(revision: 8))
        store.finishCompaction()
        #expect(throws: StoreError.compacted(requested: 5, oldestAvailable: 7)) { try store.range(.all(revision: 5)) }
        #expect(try store.pairs(.all(revision: 7)) == ["a=4"])
        #expect(try store.pairs(.all()) == ["a=4", "c=y"])
        #expect(store.liveKeyCount == 2)
        // a keeps its latest version; b keeps its tombstone at 7 and the version before it, which the delete
        // event at 7 carries as prevKV; c is untouched.
        let retained = store.retainedRecordCount
        #expect(retained == 4)
        #expect(store.apply(.compact(7)).result.failure == .compacted(requested: 7, oldestAvailable: 7))
        #expect(store.apply(.compact(9)).result.failure == .futureRevision(requested: 9, current: 8))
        let description = StoreError.compacted(requested: 5, oldestAvailable: 12).description
        #expect(description.hasPrefix("revision 5 has been compacted; the oldest available is 12"))
    }

    @Test("compaction drops deleted keys entirely once their tombstone is below the compacted revision")
    func compactionDropsDeadKeys() {
        var store = KeyValueStore()
        store.put("gone", "1")
        store.delete("gone")
        store.put("live", "1")
        _ = store.apply(.compact(3))
        store.finishCompaction()
        let (goneHistory, indexedKeys) = (store.histories[b("gone")], store.index.count)
        #expect(goneHistory == nil)
        #expect(indexedKeys == 1)
    }

    @Test("compaction runs in bounded steps after each command")
    func incrementalCompaction() throws {
        var store = KeyValueStore(limits: StoreLimits(compactionStepsPerCommand: 10))
        for round in 0..<200 { store.put("k\(round % 100)", "\(round)") }
        _ = store.apply(.compact(200))
        // Bind first: a failed expectation on `store` itself would print the whole store.
        let (pendingAfterCompact, retainedAfterCompact) = (store.isCompactionPending, store.retainedRecordCount)
        #expect(pendingAfterCompact)
        #expect(retainedAfterCompact >= 190 && retainedAfterCompact < 200)
        #expect(try store.range(.all(revision: 200)).count == 100)
        for _ in 0..<25 { _ = store.apply(.range(RangeRequest(key: b("k1")))) }
        let (pendingAtEnd, retainedAtEnd) = (store.isCompactionPending, store.retainedRecordCount)
        #expect(!pendingAtEnd)
        // k99 was written at 200 itself, so it also keeps its version at 100, the prevKV of that write.
        #expect(retainedAtEnd == 101)
        #expect(try store.range(.all()).count == 100)
    }

    @Test("a put with ignoreValue keeps the value and one with ignoreLease keeps the lease")
    func ignoreValueAndLease() throws {
        var store = KeyValueStore()
        _ = store.apply(.leaseGrant(id: 7, ttl: LeaseTTL(seconds: 10), grantedAt: 0))
        store.put("a", "1", lease: 7)
        _ = store.apply(.put(PutRequest(key: b("a"), value: [], ignoreValue: true, ignoreLease: true)))
        let kv = try #require(store.get(b("a")))
        #expect(kv.value == b("1"))
        #expect(kv.lease == 7)
        #expect(kv.version == 2)
        let missing = store.apply(.put(PutRequest(key: b("nope"), value: [], ignoreValue: true)))
        #expect(missing.result.failure == .keyNotFound(key: b("nope")))
        let both = store.apply(.put(PutRequest(key: b("a"), value: [], lease: 7, ignoreLease: true)))
        #expect(both.result.failure == .leaseWithIgnoreLease)
    }

    @Test("bad keys and values are refused with a typed error and change nothing")
    func refusals() {
        var store = KeyValueStore(limits: StoreLimits(keyBytesMax: 4, valueBytesMax: 8))
        #expect(store.apply(.put(PutRequest(key: [], value: []))).result.failure == .emptyKey)
        #expect(
            store.apply(.put(PutRequest(key: b("toolong"), value: []))).result.failure
                == .keyTooLarge(bytes: 7, limit: 4))
        #expect(
            store.apply(.put(PutRequest(key: b("k"), value: Array(repeating: 1, count: 9)))).result.failure
                == .valueTooLarge(bytes: 9, limit: 8))
        #expect(store.apply(.put(PutRequest(key: b("k"), value: [], lease: 3))).result.failure == .leaseNotFound(3))
        #expect(store.revision == 0)
    }

    @Test("the sorted key index keeps order across chunk splits and removals")
    func sortedIndexOrder() {
        var index = SortedKeyIndex()
        var generator = SplitMix64(seed: 11)
        var model = Set<[UInt8]>()
        for _ in 0..<5000 {
            let key = [UInt8(truncatingIfNeeded: generator.next()), UInt8(truncatingIfNeeded: generator.next() % 40)]
            if model.contains(key) {
                if generator.next() % 2 == 0 {
                    index.remove(key)
                    model.remove(key)
                }
            } else {
                index.insert(key, slot: 0)
                model.insert(key)
            }
        }
        var walked: [[UInt8]] = []
        index.forEachKey(from: []) { key, _ in
            walked.append(key)
            return true
        }
        #expect(walked == model.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(index.count == model.count)
    }
}
