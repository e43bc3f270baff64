import QuorumConsensus
import Testing

@testable import QuorumStore

@Suite("Snapshots")
struct SnapshotTests {
    @Test(
        "a snapshot restores to an equal store after random operations, across seeds", arguments: [1, 2, 3] as [UInt64])
    func roundTrip(seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        var store = KeyValueStore(limits: StoreLimits(sessionsMax: 8, compactionStepsPerCommand: 3))
        for _ in 0..<600 {
            let proposal = RandomWorkload.proposal(&generator, store: store)
            _ = store.apply(proposal)
            store.checkInvariants()
        }
        let bytes = store.snapshot()
        var restored = try KeyValueStore(restoringFrom: bytes, limits: store.limits)
        restored.checkInvariants()
        #expect(restored.snapshot() == bytes)
        #expect(restored.revision == store.revision)
        #expect(restored.compactedRevision == store.compactedRevision)
        #expect(try restored.range(.all()) == store.range(.all()))
        #expect(restored.leaseIDs() == store.leaseIDs())
        let start = max(store.compactedRevision, 1)
        #expect(
            try restored.events(from: start, key: [0], rangeEnd: [0])
                == store.events(from: start, key: [0], rangeEnd: [0]))
        // Both continue identically.
        for _ in 0..<200 {
            let proposal = RandomWorkload.proposal(&generator, store: store)
            #expect(store.apply(proposal) == restored.apply(proposal))
        }
        #expect(store.snapshot() == restored.snapshot())
    }

    @Test("a corrupt snapshot is refused, never trapped on")
    func corruptSnapshots() {
        var generator = SplitMix64(seed: 77)
        var store = KeyValueStore()
        for _ in 0..<100 { _ = store.apply(RandomWorkload.proposal(&generator, store: store)) }
        let bytes = store.snapshot()
        for _ in 0..<300 {
            var mutated = bytes
            let position = Int(generator.next() % UInt64(mutated.count))
            mutated[position] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
            if generator.next() % 4 == 0 { mutated.removeLast(Int(generator.next() % UInt64(mutated.count))) }
            _ = try? KeyValueStore(restoringFrom: mutated)
        }
        #expect(throws: StoreError.self) { try KeyValueStore(restoringFrom: Array(bytes.dropLast())) }
    }

    /// Found by FuzzStoreSnapshot: the restore took a history whose versions skip, and `checkInvariants` trapped on
    /// the restored store.
    @Test("a snapshot whose history skips a version is refused")
    func skippedVersion() throws {
        var bytes = snapshotOfPuts(to: "a", "a")
        // The header (36 bytes), the key count, the key "a", its record count, the first record (42 bytes), then
        // the second record's revision, sub-revision and create revision: its version.
        let secondVersion = 36 + 4 + 5 + 4 + 42 + 8 + 4 + 8
        #expect(bytes[secondVersion..<secondVersion + 8] == [2, 0, 0, 0, 0, 0, 0, 0])
        bytes[secondVersion] = 3
        #expect(throws: StoreError.self) { try KeyValueStore(restoringFrom: bytes) }
        bytes[secondVersion] = 2
        try KeyValueStore(restoringFrom: bytes).checkInvariants()
    }

    /// Found by FuzzStoreSnapshot: two keys written at the same revision and sub-revision were restored, and
    /// `checkInvariants` trapped on the write log.
    @Test("a snapshot with two writes at one revision is refused")
    func sharedRevision() throws {
        var bytes = snapshotOfPuts(to: "a", "b")
        // The header (36 bytes), the key count, key "a" with its record count and its one record (5 + 4 + 42 bytes),
        // key "b" and its record count: b's revision, then its sub-revision and create revision.
        let revisionOfB = 36 + 4 + 51 + 5 + 4
        let createRevisionOfB = revisionOfB + 12
        #expect(bytes[revisionOfB] == 2 && bytes[createRevisionOfB] == 2)
        bytes[revisionOfB] = 1
        bytes[createRevisionOfB] = 1
        #expect(throws: StoreError.self) { try KeyValueStore(restoringFrom: bytes) }
    }

    /// The snapshot of a store after one put of a one-byte value to each key in turn.
    private func snapshotOfPuts(to keys: String...) -> [UInt8] {
        var store = KeyValueStore()
        for (index, key) in keys.enumerated() {
            _ = store.apply(.put(PutRequest(key: Array(key.utf8), value: [UInt8(index)])))
        }
        return store.snapshot()
    }
}
