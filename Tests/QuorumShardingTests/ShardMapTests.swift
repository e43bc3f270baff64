import QuorumConsensus
import Testing

@testable import QuorumSharding

@Suite("The shard map")
struct ShardMapTests {
    let founding = ShardMap.founding(groups: 3)

    /// A key whose hash slot is among `slots`.
    static func key(inSlots slots: ClosedRange<Int>) -> [UInt8] {
        (0...).lazy.map { Array("k\($0)".utf8) }.first { slots.contains(HashSlot(key: $0).rawValue) }!
    }

    @Test("a move begins from the one owner of its slots and, finished, gives them to the target")
    func moveLifecycle() throws {
        let moving = try founding.beginning(.slots(100...200), to: GroupID(2))
        #expect(moving.migrations == [ShardMigration(keys: .slots(100...200), from: GroupID(1), to: GroupID(2))])
        #expect(moving.migration(ofKey: Self.key(inSlots: 100...200))?.to == GroupID(2))
        #expect(moving.migration(ofKey: Self.key(inSlots: 201...5_000)) == nil)
        let moved = moving.finishing(moving.migrations[0])
        #expect(moved.migrations.isEmpty)
        #expect(moved.assignment.group(of: HashSlot(99)!) == GroupID(1))
        #expect(moved.assignment.group(of: HashSlot(100)!) == GroupID(2))
        #expect(moved.assignment.group(of: HashSlot(200)!) == GroupID(2))
        #expect(moved.assignment.group(of: HashSlot(201)!) == GroupID(1))
        #expect(moved.assignment.ranges.count == 5)
    }

    @Test("giving a group back its slots merges its ranges: equal ownership has one representation")
    func reassigningMerges() {
        let assignment = founding.assignment
        let there = assignment.reassigning(100...200, to: GroupID(2))
        #expect(there.reassigning(100...200, to: GroupID(1)) == assignment)
        let edge = assignment.reassigning(5_000...5_460, to: GroupID(2))
        #expect(edge.slots(of: GroupID(2)) == [5_000...10_922])
    }

    @Test("moves that do not fit the map are refused with a reason")
    func invalidMoves() throws {
        #expect(throws: ShardMapError.self) { try founding.beginning(.slots(5_000...6_000), to: GroupID(3)) }
        #expect(throws: ShardMapError.self) { try founding.beginning(.slots(0...10), to: GroupID(1)) }
        #expect(throws: ShardMapError.self) { try founding.beginning(.slots(16_000...16_384), to: GroupID(1)) }
        let moving = try founding.beginning(.slots(0...10), to: GroupID(2))
        #expect(throws: ShardMapError.self) { try moving.beginning(.slots(5...20), to: GroupID(3)) }
    }

    @Test("the encoding round-trips, and a malformed or inconsistent map is refused, never trusted")
    func codec() throws {
        let map = try founding.beginning(.slots(7...9), to: GroupID(3))
        let decoded = try ShardMap(decoding: map.encoded, epoch: 4)
        #expect(decoded.assignment == map.assignment)
        #expect(decoded.migrations == map.migrations)
        #expect(decoded.epoch == 4)
        let bytes = map.encoded
        for length in 0..<bytes.count {
            #expect(throws: ShardMapError.self) { try ShardMap(decoding: Array(bytes.prefix(length)), epoch: 1) }
        }
        var gap = bytes
        gap[5] = 1  // the first range now starts at slot 1
        #expect(throws: ShardMapError.self) { try ShardMap(decoding: gap, epoch: 1) }
        var wrongSource = bytes
        wrongSource[wrongSource.count - 16] = 2  // the migration now claims to start from group 2
        #expect(throws: ShardMapError.self) { try ShardMap(decoding: wrongSource, epoch: 1) }
    }
}
