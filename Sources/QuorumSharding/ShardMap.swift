import QuorumCodec
import QuorumConsensus

/// Which group owns each key, and which keys are moving: the cluster's shard map.
///
/// Keys are hash-sharded by default: each of Redis Cluster's 16,384 slots belongs to one group. Keys under a
/// declared prefix are range-sharded instead: the prefix's key space is cut into spans in key order, each owned by
/// one group, so that a range read touches few groups. A shard is a maximal span (or slot range) of one group; a
/// split moves part of a span to another group, a merge moves a span to its neighbour's group.
///
/// The map lives in the cluster's own group (group 1) under one reserved key, so every node has it, every snapshot
/// carries it, and a change is a compare-and-swap on that key. Its epoch is the key's version: 0 while the map is
/// still the founding assignment (nothing stored yet), and one more on every change.
public struct ShardMap: Hashable, Sendable {
    public var epoch: UInt64
    public var assignment: SlotAssignment
    /// Range-sharded keyspaces, in prefix order; no prefix is a prefix of another, and each keyspace's spans cover
    /// every key under its prefix.
    public var keyspaces: [RangeKeyspace]
    /// Keys being handed from one group to another; at most one move per key.
    public var migrations: [ShardMigration]

    public init(
        epoch: UInt64, assignment: SlotAssignment, keyspaces: [RangeKeyspace] = [], migrations: [ShardMigration] = []
    ) {
        self.epoch = epoch
        self.assignment = assignment
        self.keyspaces = keyspaces
        self.migrations = migrations
    }

    /// The group that stores the map: the cluster's own.
    public static let group = GroupID(1)
    /// Moves under way at once, and range-sharded keyspaces; bound the map a client may store.
    public static let migrationsMax = 1024
    public static let keyspacesMax = 256

    /// The map of a cluster founded with `groups` groups, before any change.
    public static func founding(groups: Int) -> ShardMap {
        ShardMap(epoch: 0, assignment: SlotAssignment(evenlyOver: (1...max(groups, 1)).map { GroupID(UInt64($0)) }))
    }

    /// The group that owns `key`.
    public func owner(ofKey key: some Collection<UInt8>) -> GroupID {
        if let keyspace = keyspace(of: key), let owner = keyspace.owners.value(at: key) { return owner }
        return assignment.group(ofKey: key)
    }

    /// The range-sharded keyspace `key` belongs to, if any.
    public func keyspace(of key: some Collection<UInt8>) -> RangeKeyspace? {
        keyspaces.first { key.starts(with: $0.prefix) }
    }

    /// The move that covers `key`, if it is moving.
    public func migration(ofKey key: some Collection<UInt8>) -> ShardMigration? {
        migrations.first { $0.keys.contains(key) }
    }

    /// The map with keys under `prefix` range-sharded, all owned by `owner` to begin with.
    public func declaring(prefix: [UInt8], owner: GroupID) throws(ShardMapError) -> ShardMap {
        guard !prefix.isEmpty else { throw .invalid("a range-sharded keyspace needs a non-empty prefix") }
        if let other = keyspaces.first(where: { $0.prefix.starts(with: prefix) || prefix.starts(with: $0.prefix) }) {
            throw .invalid(
                "keyspace \(KeySpan.printable(prefix)) overlaps keyspace \(KeySpan.printable(other.prefix))")
        }
        guard keyspaces.count < Self.keyspacesMax else {
            throw .invalid("there are already \(keyspaces.count) range-sharded keyspaces, the most there may be")
        }
        var owners = KeySpanMap<GroupID>()
        owners.set(KeySpan(prefix: prefix), to: owner)
        var next = self
        next.keyspaces.append(RangeKeyspace(prefix: prefix, owners: owners))
        next.keyspaces.sort { $0.prefix.lexicographicallyPrecedes($1.prefix) }
        return next
    }

    /// The map with a move of `keys` to `target` begun.
    /// - Throws: when the keys are not all owned by one other group, or some of them are already moving.
    public func beginning(_ keys: KeySelector, to target: GroupID) throws(ShardMapError) -> ShardMap {
        let owners = try self.owners(of: keys)
        guard owners.count == 1, let source = owners.first else {
            throw .invalid(
                "\(keys) belong to groups " + owners.map { "\($0.rawValue)" }.joined(separator: ", ")
                    + "; move one group's keys at a time")
        }
        guard source != target else { throw .invalid("\(keys) already belong to group \(target.rawValue)") }
        guard migrations.count < Self.migrationsMax else {
            throw .invalid("\(migrations.count) moves are under way, the most there may be; finish some first")
        }
        if case .span(let span) = keys, let keyspace = keyspaces.first(where: { KeySpan(prefix: $0.prefix).covers(span) }),
            keyspace.owners.pieces.count + 2 > Self.spansMax
        {
            throw .invalid("keyspace \(KeySpan.printable(keyspace.prefix)) has the most spans there may be; merge some first")
        }
        if let busy = migrations.first(where: { $0.keys.overlaps(keys) }) {
            throw .invalid("\(busy.keys) are already moving; finish that move first")
        }
        var next = self
        next.migrations.append(ShardMigration(keys: keys, from: source, to: target))
        return next
    }

    /// The map once `migration` is done: its keys belong to its target.
    public func finishing(_ migration: ShardMigration) -> ShardMap {
        var next = self
        next.migrations.removeAll { $0 == migration }
        switch migration.keys {
        case .slots(let slots): next.assignment = assignment.reassigning(slots, to: migration.to)
        case .span(let span):
            if let index = keyspaces.firstIndex(where: { KeySpan(prefix: $0.prefix).covers(span) }) {
                next.keyspaces[index].owners.set(span, to: migration.to)
            }
        }
        return next
    }

    /// The groups that own some of `keys`, each once, in key order.
    /// - Throws: for slots outside 0-16383, or a span that is not within one range-sharded keyspace.
    func owners(of keys: KeySelector) throws(ShardMapError) -> [GroupID] {
        var owners: [GroupID] = []
        switch keys {
        case .slots(let slots):
            guard slots.lowerBound >= 0, slots.upperBound < HashSlot.count else {
                throw .invalid("slots \(slots.lowerBound)-\(slots.upperBound) are outside 0-\(HashSlot.count - 1)")
            }
            owners = assignment.owners(of: slots)
        case .span(let span):
            guard let keyspace = keyspaces.first(where: { KeySpan(prefix: $0.prefix).covers(span) }) else {
                throw .invalid("\(span) is not within one range-sharded keyspace")
            }
            for part in keyspace.owners.parts(of: span) {
                if let owner = part.value, owners.last != owner { owners.append(owner) }
            }
        }
        return owners
    }
}

/// Keys under one prefix, sharded by key range.
public struct RangeKeyspace: Hashable, Sendable {
    public var prefix: [UInt8]
    /// The group owning each span of the keyspace; together they cover it.
    public var owners: KeySpanMap<GroupID>
}

/// Keys on their way from one group to another (Redis Cluster's MIGRATING on the source, IMPORTING on the target).
public struct ShardMigration: Hashable, Sendable {
    public var keys: KeySelector
    public var from: GroupID
    public var to: GroupID

    public init(keys: KeySelector, from: GroupID, to: GroupID) {
        self.keys = keys
        self.from = from
        self.to = to
    }
}

extension KeySelector {
    func overlaps(_ other: KeySelector) -> Bool {
        switch (self, other) {
        case (.slots(let a), .slots(let b)): a.overlaps(b)
        case (.span(let a), .span(let b)): a.overlaps(b)
        default: false
        }
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
