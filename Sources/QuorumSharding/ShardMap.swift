import QuorumCodec
import QuorumConsensus

/// Which group owns each hash slot, and which slots are moving: the cluster's shard map.
///
/// It lives in the cluster's own group (group 1) under one reserved key, so every node has it, every snapshot
/// carries it, and a change is a compare-and-swap on that key. Its epoch is the key's version: 0 while the map is
/// still the founding assignment (nothing stored yet), and one more on every change, so a sender's belief can be
/// compared with the current map by one number.
public struct ShardMap: Hashable, Sendable {
    public var epoch: UInt64
    public var assignment: SlotAssignment
    /// Slots being handed from one group to another; at most one migration per slot.
    public var migrations: [SlotMigration]

    public init(epoch: UInt64, assignment: SlotAssignment, migrations: [SlotMigration] = []) {
        self.epoch = epoch
        self.assignment = assignment
        self.migrations = migrations
    }

    /// The group that stores the map: the cluster's own.
    public static let group = GroupID(1)

    /// Moves under way at once; bounds the map a client may store.
    public static let migrationsMax = 1024

    /// The map of a cluster founded with `groups` groups, before any change.
    public static func founding(groups: Int) -> ShardMap {
        ShardMap(epoch: 0, assignment: SlotAssignment(evenlyOver: (1...max(groups, 1)).map { GroupID(UInt64($0)) }))
    }

    /// The migration that covers `slot`, if it is moving.
    public func migration(of slot: HashSlot) -> SlotMigration? {
        migrations.first { $0.slots.contains(slot.rawValue) }
    }

    /// The map with a migration of `slots` to `target` begun.
    /// - Throws: when the slots are not all owned by one other group, or some of them are already moving.
    public func beginning(_ slots: ClosedRange<Int>, to target: GroupID) throws(ShardMapError) -> ShardMap {
        try Self.check(slots)
        let owners = assignment.owners(of: slots)
        guard owners.count == 1, let source = owners.first else {
            throw .invalid(
                "slots \(slots.lowerBound)-\(slots.upperBound) belong to groups "
                    + owners.map { "\($0.rawValue)" }.joined(separator: ", ") + "; move one group's slots at a time")
        }
        guard source != target else {
            throw .invalid("slots \(slots.lowerBound)-\(slots.upperBound) already belong to group \(target.rawValue)")
        }
        guard migrations.count < Self.migrationsMax else {
            throw .invalid("\(migrations.count) moves are under way, the most there may be; finish some first")
        }
        if let busy = migrations.first(where: { $0.slots.overlaps(slots) }) {
            throw .invalid("slots \(busy.slots.lowerBound)-\(busy.slots.upperBound) are already moving; finish that move first")
        }
        var next = self
        next.migrations.append(SlotMigration(slots: slots, from: source, to: target))
        next.migrations.sort { $0.slots.lowerBound < $1.slots.lowerBound }
        return next
    }

    /// The map once `migration` is done: its slots belong to its target.
    public func finishing(_ migration: SlotMigration) -> ShardMap {
        ShardMap(
            epoch: epoch, assignment: assignment.reassigning(migration.slots, to: migration.to),
            migrations: migrations.filter { $0 != migration })
    }

    static func check(_ slots: ClosedRange<Int>) throws(ShardMapError) {
        guard slots.lowerBound >= 0, slots.upperBound < HashSlot.count else {
            throw .invalid("slots \(slots.lowerBound)-\(slots.upperBound) are outside 0-\(HashSlot.count - 1)")
        }
    }
}

/// Slots on their way from one group to another (Redis Cluster's MIGRATING on the source, IMPORTING on the target).
public struct SlotMigration: Hashable, Sendable {
    public var slots: ClosedRange<Int>
    public var from: GroupID
    public var to: GroupID

    public init(slots: ClosedRange<Int>, from: GroupID, to: GroupID) {
        self.slots = slots
        self.from = from
        self.to = to
    }
}

public enum ShardMapError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes are not a shard map; the sender has a bug or they were corrupted.
    case malformed(String)
    /// A well-formed request that cannot be carried out; the message says why.
    case invalid(String)

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed shard map: \(reason)"
        case .invalid(let reason): reason
        }
    }
}

/// Encoding (little-endian): `version:u8 rangeCount:u32 {first:u16 last:u16 group:u64}
/// migrationCount:u32 {first:u16 last:u16 from:u64 to:u64}`. The epoch is not encoded: it is the stored key's version.
extension ShardMap {
    private static let formatVersion: UInt8 = 1

    public var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.formatVersion)
        writer.write(UInt32(assignment.ranges.count))
        for range in assignment.ranges {
            writer.write(UInt16(range.slots.lowerBound))
            writer.write(UInt16(range.slots.upperBound))
            writer.write(range.group.rawValue)
        }
        writer.write(UInt32(migrations.count))
        for migration in migrations {
            writer.write(UInt16(migration.slots.lowerBound))
            writer.write(UInt16(migration.slots.upperBound))
            writer.write(migration.from.rawValue)
            writer.write(migration.to.rawValue)
        }
        return writer.bytes
    }

    /// Decodes and checks a map: every slot owned once, each migration within one group's slots and to another.
    public init(decoding bytes: [UInt8], epoch: UInt64) throws(ShardMapError) {
        do {
            self = try Self.decode(bytes, epoch: epoch)
        } catch let failure as ShardMapError {
            throw failure
        } catch {
            throw .malformed("\(error)")
        }
    }

    private static func decode(_ bytes: [UInt8], epoch: UInt64) throws -> ShardMap {
        var reader = ByteReader(bytes)
        let version = try reader.readByte("shard map version")
        guard version == formatVersion else { throw ShardMapError.malformed("unknown version \(version)") }
        let rangeCount = try reader.readCount("slot ranges", minimumItemBytes: 12)
        var ranges: [SlotAssignment.SlotRange] = []
        for _ in 0..<rangeCount {
            let slots = try readSlots(&reader)
            let group = GroupID(try reader.read(UInt64.self, "slot range group"))
            guard group.rawValue != 0 else { throw ShardMapError.malformed("group 0 owns slots") }
            ranges.append(SlotAssignment.SlotRange(slots: slots, group: group))
        }
        var map = ShardMap(epoch: epoch, assignment: try SlotAssignment(validating: ranges))
        let migrationCount = try reader.readCount("migrations", minimumItemBytes: 20)
        for _ in 0..<migrationCount {
            let slots = try readSlots(&reader)
            let from = GroupID(try reader.read(UInt64.self, "migration source"))
            let to = GroupID(try reader.read(UInt64.self, "migration target"))
            guard to.rawValue != 0, map.assignment.owners(of: slots) == [from] else {
                throw ShardMapError.malformed("a migration does not start from the owner of its slots")
            }
            map = try map.beginning(slots, to: to)
        }
        try reader.expectEnd(of: "shard map")
        return map
    }

    private static func readSlots(_ reader: inout ByteReader) throws -> ClosedRange<Int> {
        let first = Int(try reader.read(UInt16.self, "first slot"))
        let last = Int(try reader.read(UInt16.self, "last slot"))
        guard first <= last, last < HashSlot.count else {
            throw ShardMapError.malformed("slot range \(first)-\(last) is empty or outside 0-\(HashSlot.count - 1)")
        }
        return first...last
    }
}
