import QuorumConsensus
import QuorumSharding
import Testing

@testable import QuorumStore

@Suite("Moving hash slots between groups")
struct SlotMoveTests {
    static let source = GroupID(1)
    static let target = GroupID(2)

    /// The slot of `key`, as a one-slot range.
    static func slotRange(of key: String) -> ClosedRange<Int> {
        let slot = HashSlot(key: b(key)).rawValue
        return slot...slot
    }

    /// Moves the slots of `{user}` keys from `from` to `to` through every step, as `quorum shard move` does.
    static func move(_ slots: ClosedRange<Int>, from: inout KeyValueStore, to: inout KeyValueStore) throws {
        #expect(to.apply(.importSlots(slots, from: source)).result.failure == nil)
        #expect(from.apply(.releaseSlots(slots, to: target)).result.failure == nil)
        var after: [UInt8] = []
        repeat {
            guard case .slotsExported(let keys, let next, _) = from.apply(.exportSlots(slots, after: after, limit: 2)).result
            else { Issue.record("export failed"); return }
            #expect(to.apply(.adoptKeys(keys)).result.failure == nil)
            guard let next else { break }
            after = next
        } while true
        #expect(to.apply(.finishImport(slots)).result.failure == nil)
        #expect(from.apply(.dropSlots(slots)).result.failure == nil)
    }

    @Test("a move carries every key of the slot and nothing else, and the source then refuses the slot")
    func moveCarriesOnlyTheSlotsKeys() throws {
        var source = KeyValueStore()
        var target = KeyValueStore()
        for index in 0..<5 { source.put("{user}:\(index)", "v\(index)") }
        source.put("other", "stays")
        let slots = Self.slotRange(of: "{user}")
        #expect(!slots.contains(HashSlot(key: b("other")).rawValue))
        try Self.move(slots, from: &source, to: &target)
        for index in 0..<5 {
            #expect(target.get(b("{user}:\(index)"))?.value == b("v\(index)"))
            #expect(source.get(b("{user}:\(index)")) == nil)
        }
        #expect(target.get(b("other")) == nil)
        #expect(source.get(b("other"))?.value == b("stays"))
        #expect(
            source.apply(.put(PutRequest(key: b("{user}:0"), value: b("late")))).result.failure
                == .slotMoved(slot: HashSlot(key: b("{user}")), to: Self.target))
        #expect(throws: StoreError.slotMoved(slot: HashSlot(key: b("{user}")), to: Self.target)) {
            try source.range(RangeRequest(key: b("{user}:1")))
        }
        #expect(target.apply(.put(PutRequest(key: b("{user}:0"), value: b("new")))).result.failure == nil)
    }

    @Test("between release and finish no group serves the slot: no write can slip past the copy")
    func noGroupServesTheSlotMidMove() {
        var source = KeyValueStore()
        var target = KeyValueStore()
        source.put("{k}a", "1")
        let slots = Self.slotRange(of: "{k}")
        let slot = HashSlot(key: b("{k}"))
        #expect(target.apply(.importSlots(slots, from: Self.source)).result.failure == nil)
        #expect(target.apply(.put(PutRequest(key: b("{k}a"), value: b("early")))).result.failure == .slotImporting(slot: slot))
        #expect(source.apply(.put(PutRequest(key: b("{k}a"), value: b("2")))).result.failure == nil)
        #expect(source.apply(.releaseSlots(slots, to: Self.target)).result.failure == nil)
        #expect(source.apply(.put(PutRequest(key: b("{k}a"), value: b("3")))).result.failure == .slotMoved(slot: slot, to: Self.target))
        guard case .slotsExported(let keys, nil, _) = source.apply(.exportSlots(slots, after: [], limit: 10)).result
        else {
            Issue.record("export failed")
            return
        }
        #expect(keys.map(\.value) == [b("2")])
        #expect(target.apply(.adoptKeys(keys)).result.failure == nil)
        #expect(target.get(b("{k}a"))?.value == b("2"))
        #expect(target.apply(.put(PutRequest(key: b("{k}a"), value: b("4")))).result.failure == .slotImporting(slot: slot))
        #expect(target.apply(.finishImport(slots)).result.failure == nil)
        #expect(target.apply(.put(PutRequest(key: b("{k}a"), value: b("4")))).result.failure == nil)
    }

    @Test("range reads and deletes skip keys of slots not served here; transactions on them are refused")
    func rangesSkipReleasedKeys() {
        var store = KeyValueStore()
        store.put("{a}1", "x")
        store.put("{b}1", "y")
        #expect(store.apply(.releaseSlots(Self.slotRange(of: "{a}"), to: Self.target)).result.failure == nil)
        let everything = RangeRequest(key: [0], rangeEnd: [0])
        #expect((try? store.range(everything))?.kvs.map(\.key) == [b("{b}1")])
        #expect(store.delete("\u{0}", rangeEnd: "\u{0}").result.deleteRange?.deleted == 1)
        // The released key is kept for the move until it is dropped.
        #expect(store.get(b("{a}1"))?.value == b("x"))
        let transaction = TransactionRequest(
            compare: [Comparison(key: b("{a}1"), .version(1), .equal)], success: [], failure: [])
        #expect(store.apply(.transaction(transaction)).result.failure != nil)
    }

    @Test("every step can be repeated, so a move that stopped half-way is resumed by running it again")
    func stepsAreRepeatable() throws {
        var source = KeyValueStore()
        var target = KeyValueStore()
        source.put("{r}1", "a")
        let slots = Self.slotRange(of: "{r}")
        #expect(target.apply(.importSlots(slots, from: Self.source)).result.failure == nil)
        #expect(source.apply(.releaseSlots(slots, to: Self.target)).result.failure == nil)
        try Self.move(slots, from: &source, to: &target)
        #expect(target.get(b("{r}1"))?.value == b("a"))
    }

    @Test("an import asked again after it finished changes nothing and says so, so a resumed move copies nothing over newer writes")
    func importAfterFinishIsANoOp() throws {
        var source = KeyValueStore()
        var target = KeyValueStore()
        source.put("{n}1", "old")
        let slots = Self.slotRange(of: "{n}")
        try Self.move(slots, from: &source, to: &target)
        target.put("{n}1", "newer")
        #expect(target.apply(.importSlots(slots, from: Self.source)).result == .slotsAlreadyImported(revision: target.revision))
        #expect(target.apply(.put(PutRequest(key: b("{n}1"), value: b("still served")))).result.failure == nil)
        // And a slot can come back to the group that released it; what it kept of it is gone by then.
        #expect(source.apply(.importSlots(slots, from: Self.target)).result.failure == nil)
        #expect(source.get(b("{n}1")) == nil)
    }

    @Test("steps that do not fit the slots' state are refused and change nothing")
    func invalidStepsAreRefused() {
        var store = KeyValueStore()
        store.put("{z}1", "a")
        let slots = Self.slotRange(of: "{z}")
        let before = store.snapshot()
        for command: StoreCommand in [
            .exportSlots(slots, after: [], limit: 10), .dropSlots(slots), .finishImport(slots),
            .adoptKeys([MovedKey(key: b("{z}2"), value: b("b"), lease: nil)]),
        ] {
            guard case .invalidMove = store.apply(command).result.failure else {
                Issue.record("\(command) was not refused as an invalid move")
                continue
            }
        }
        #expect(store.apply(.releaseSlots(slots, to: Self.target)).result.failure == nil)
        #expect(store.apply(.releaseSlots(slots, to: GroupID(3))).result.failure != nil)
        #expect(store.apply(.importSlots(slots, from: GroupID(3))).result.failure != nil)
        #expect(store.apply(.exportSlots(slots, after: [], limit: 0)).result.failure != nil)
        var untouched = KeyValueStore()
        untouched.put("{z}1", "a")
        #expect(untouched.snapshot() == before)
    }

    @Test("a key's lease moves with it: the target creates it with the same deadline")
    func leasesMove() throws {
        var source = KeyValueStore()
        var target = KeyValueStore()
        let lease = LeaseID(77)
        #expect(source.apply(.leaseGrant(id: lease, ttl: LeaseTTL(milliseconds: 5_000), grantedAt: StoreTime(milliseconds: 1_000))).result.failure == nil)
        source.put("{l}1", "v", lease: lease)
        try Self.move(Self.slotRange(of: "{l}"), from: &source, to: &target)
        #expect(target.get(b("{l}1"))?.lease == lease)
        #expect(target.expiredLeases(now: StoreTime(milliseconds: 6_000), limit: 10) == [lease])
        #expect(target.expiredLeases(now: StoreTime(milliseconds: 5_999), limit: 10).isEmpty)
    }

    @Test("slot states survive a snapshot, and a version-2 snapshot restores with none")
    func slotStatesInSnapshots() throws {
        var store = KeyValueStore()
        store.put("{s}1", "v")
        #expect(store.apply(.releaseSlots(Self.slotRange(of: "{s}"), to: Self.target)).result.failure == nil)
        #expect(store.apply(.importSlots(Self.slotRange(of: "{t}"), from: GroupID(3))).result.failure == nil)
        let restored = try KeyValueStore(restoringFrom: store.snapshot())
        #expect(restored.slotStates == store.slotStates)
        #expect(restored.snapshot() == store.snapshot())
        var corrupt = store.snapshot()
        corrupt[corrupt.count - 9] = 9
        #expect(throws: StoreError.self) { try KeyValueStore(restoringFrom: corrupt) }
    }

    @Test("slot-move commands and results survive encoding; malformed ranges are refused")
    func codec() throws {
        let commands: [StoreCommand] = [
            .importSlots(0...16_383, from: GroupID(2)), .releaseSlots(5...5, to: GroupID(9)),
            .exportSlots(1...2, after: b("k"), limit: 10), .finishImport(3...4), .dropSlots(7...8),
            .adoptKeys([
                MovedKey(key: b("a"), value: b("1"), lease: nil),
                MovedKey(
                    key: b("b"), value: [],
                    lease: MovedLease(id: LeaseID(3), ttl: LeaseTTL(milliseconds: 1), deadline: StoreTime(milliseconds: 2))),
            ]),
        ]
        for command in commands { #expect(try StoreCommand(decoding: command.encoded) == command) }
        let results: [StoreResult] = [
            .slotsMoved(revision: 4), .slotsAlreadyImported(revision: 6), .slotsExported(keys: [MovedKey(key: b("a"), value: b("1"), lease: nil)], next: b("a"), revision: 5),
            .failed(.slotMoved(slot: HashSlot(key: b("x")), to: GroupID(2))), .failed(.slotImporting(slot: HashSlot(key: b("y")))),
            .failed(.invalidMove("no")),
        ]
        for result in results { #expect(try StoreResult(decoding: result.encoded) == result) }
        var backwards = StoreCommand.dropSlots(7...8).encoded
        backwards.swapAt(backwards.count - 4, backwards.count - 2)
        #expect(throws: StoreError.self) { try StoreCommand(decoding: backwards) }
        var zeroGroup = StoreCommand.releaseSlots(1...1, to: GroupID(1)).encoded
        zeroGroup[zeroGroup.count - 8] = 0
        #expect(throws: StoreError.self) { try StoreCommand(decoding: zeroGroup) }
    }
}
