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
}
