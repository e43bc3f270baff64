import QuorumConsensus
import Testing

@testable import QuorumSharding

@Suite("Hash slots")
struct HashSlotTests {
    @Test("CRC16 is XMODEM: the standard check value")
    func crc16CheckValue() {
        #expect(CRC16.checksum(Array("123456789".utf8)) == 0x31C3)
    }

    @Test(
        "keys map to the slots Redis Cluster computes",
        arguments: [
            ("foo", 12_182), ("somekey", 11_058), ("foo{hash_tag}", 2_515), ("bar{hash_tag}", 2_515), ("bar", 5_061),
            ("hello", 866), ("", 0), ("123456789", 0x31C3 % 16_384),
        ])
    func redisSlots(key: String, slot: Int) {
        #expect(HashSlot(key: Array(key.utf8)).rawValue == slot)
    }

    @Test("a hash tag puts keys in one slot; an empty or unclosed tag hashes the whole key")
    func hashTags() {
        let followers = HashSlot(key: Array("{user1000}.followers".utf8))
        #expect(followers == HashSlot(key: Array("{user1000}.following".utf8)))
        #expect(followers == HashSlot(key: Array("user1000".utf8)))
        #expect(HashSlot(key: Array("foo{}{bar}".utf8)) == HashSlot(key: Array("foo{}{bar}".utf8)))
        #expect(HashSlot.hashedPart(of: Array("foo{}{bar}".utf8)).elementsEqual("foo{}{bar}".utf8))
        #expect(HashSlot.hashedPart(of: Array("foo{{bar}}zap".utf8)).elementsEqual("{bar".utf8))
        #expect(HashSlot.hashedPart(of: Array("foo{bar}{zap}".utf8)).elementsEqual("bar".utf8))
        #expect(HashSlot.hashedPart(of: Array("{unclosed".utf8)).elementsEqual("{unclosed".utf8))
    }

    @Test("slot numbers outside 0..<16384 are refused")
    func slotBounds() {
        #expect(HashSlot(-1) == nil)
        #expect(HashSlot(16_384) == nil)
        #expect(HashSlot(16_383)?.rawValue == 16_383)
    }
}

@Suite("Slot assignment")
struct SlotAssignmentTests {
    @Test("slots split evenly over the groups in group order, covering every slot once", arguments: [1, 3, 7, 16_384])
    func evenSplit(groupCount: Int) {
        let groups = (1...groupCount).reversed().map { GroupID(UInt64($0)) }
        let assignment = SlotAssignment(evenlyOver: groups)
        #expect(assignment.ranges.map(\.group) == groups.sorted())
        #expect(assignment.ranges.first?.slots.lowerBound == 0)
        #expect(assignment.ranges.last?.slots.upperBound == 16_383)
        for (earlier, later) in zip(assignment.ranges, assignment.ranges.dropFirst()) {
            #expect(earlier.slots.upperBound + 1 == later.slots.lowerBound)
        }
        let sizes = assignment.ranges.map(\.slots.count)
        #expect(sizes.max()! - sizes.min()! <= 1)
        for range in assignment.ranges {
            #expect(assignment.group(of: HashSlot(range.slots.lowerBound)!) == range.group)
            #expect(assignment.group(of: HashSlot(range.slots.upperBound)!) == range.group)
        }
    }

    @Test("three groups own the ranges redis-cli --cluster create gives three masters")
    func threeGroups() {
        let assignment = SlotAssignment(evenlyOver: [1, 2, 3])
        #expect(assignment.slots(of: 1) == [0...5460])
        #expect(assignment.slots(of: 2) == [5461...10922])
        #expect(assignment.slots(of: 3) == [10923...16383])
        #expect(assignment.group(ofKey: Array("foo".utf8)) == 3)
        #expect(assignment.group(ofKey: Array("bar".utf8)) == 1)
    }

    @Test("beyond 16,384 groups the first ones own a slot each")
    func moreGroupsThanSlots() {
        let assignment = SlotAssignment(evenlyOver: (1...16_400).map { GroupID(UInt64($0)) })
        #expect(assignment.ranges.count == 16_384)
        #expect(assignment.slots(of: 16_400).isEmpty)
        #expect(assignment.group(of: HashSlot(16_383)!) == 16_384)
    }
}

@Suite("Hash spread over groups")
struct HashSpreadTests {
    @Test(
        "100,000 keys over 3, 8 and 16 groups: the fullest group holds at most 5% more than the mean",
        arguments: [3, 8, 16])
    func evenSpread(groups: Int) {
        let map = ShardMap.founding(groups: groups)
        var counts: [GroupID: Int] = [:]
        let keys = 100_000
        // Sequential names, as applications make them: the hash must not care.
        for number in 0..<keys { counts[map.owner(ofKey: Array("user:\(number)".utf8)), default: 0] += 1 }
        let mean = Double(keys) / Double(groups)
        #expect(counts.count == groups)
        #expect(Double(counts.values.max() ?? 0) <= mean * 1.05, "\(counts)")
        #expect(Double(counts.values.min() ?? 0) >= mean * 0.95, "\(counts)")
    }
}
