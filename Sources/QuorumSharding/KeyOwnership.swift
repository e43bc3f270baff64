import QuorumConsensus

/// What one group's state machine knows of the keys it serves beyond the founding assignment: the hash slots it
/// imports, adopted or released, and for each range-sharded keyspace the spans it owns, imports or released. Every
/// replica applies the same moves in log order, so a request for a key the group handed over is refused by every
/// replica at the same point, whatever map the request was routed with: the check that makes a stale route
/// harmless.
///
/// A hash slot the group never heard of is served, as at the cluster's founding (routing by the shard map sends a
/// group only the slots it was founded with or adopted). A key of a range-sharded keyspace is served only within a
/// span the group owns: the keyspace was declared to every group, naming its one first owner.
public struct KeyOwnership: Hashable, Sendable {
    public enum State: Hashable, Sendable {
        /// Keys are arriving from `from`; nothing is served until the import is finished.
        case importing(from: GroupID)
        /// Served here.
        case owned
        /// Handed to `to`: refused here. The keys stay until the move drops them, so that a move that stops half-way
        /// can be resumed without losing any.
        case released(to: GroupID)
    }

    /// Why a key is not served here.
    public enum Refusal: Hashable, Sendable {
        case moved(to: GroupID)
        case importing
        /// A key of a range-sharded keyspace outside every span this group owns.
        case notServed
    }

    private var slots: [Int: State] = [:]
    /// Range-sharded keyspaces by prefix; no prefix is a prefix of another.
    public private(set) var keyspaces: [[UInt8]: KeySpanMap<State>] = [:]

    public init() {}

    public var isEmpty: Bool { slots.isEmpty && keyspaces.isEmpty }

    public func state(of slot: HashSlot) -> State? { slots[slot.rawValue] }

    /// The state of `key`: its span's in a range-sharded keyspace, else its hash slot's (nil: as founded).
    public func state(ofKey key: some Collection<UInt8>) -> State? {
        if let spans = spans(of: key) { return spans.value(at: key) }
        return slots[HashSlot(key: key).rawValue]
    }

    /// Nil if `key` is served here.
    public func refusal(forKey key: some Collection<UInt8>) -> Refusal? {
        // Most groups never see a move: no hashing on their request path.
        guard !isEmpty else { return nil }
        if let spans = spans(of: key) {
            switch spans.value(at: key) {
            case .owned: return nil
            case nil: return .notServed
            case .importing: return .importing
            case .released(let target): return .moved(to: target)
            }
        }
        switch slots[HashSlot(key: key).rawValue] {
        case nil, .owned: return nil
        case .importing: return .importing
        case .released(let target): return .moved(to: target)
        }
    }

    /// The spans of the range-sharded keyspace `key` belongs to, if any.
    private func spans(of key: some Collection<UInt8>) -> KeySpanMap<State>? {
        guard !keyspaces.isEmpty else { return nil }
        return keyspaces.first { key.starts(with: $0.key) }?.value
    }

    /// Whether `key` was released from here and is among `keys`: what a move exports and later drops.
    public func isReleased(_ key: some Collection<UInt8>, in keys: KeySelector) -> Bool {
        guard keys.contains(key), case .released = state(ofKey: key) else { return false }
        return true
    }

    /// Whether keys like `key` may be adopted now: its slot or span is being imported.
    public func isImporting(_ key: some Collection<UInt8>) -> Bool {
        if case .importing = state(ofKey: key) { return true }
        return false
    }

    /// Makes keys under `prefix` range-sharded here: owned if `ownedHere`, else refused until a span is imported.
    /// Repeating it is harmless.
    public mutating func declare(prefix: [UInt8], ownedHere: Bool) throws(ShardMapError) {
        if keyspaces[prefix] != nil { return }
        if let other = keyspaces.keys.first(where: { $0.starts(with: prefix) || prefix.starts(with: $0) }) {
            throw .invalid("keyspace \(KeySpan.printable(prefix)) overlaps keyspace \(KeySpan.printable(other))")
        }
        var spans = KeySpanMap<State>()
        if ownedHere { spans.set(KeySpan(prefix: prefix), to: .owned) }
        keyspaces[prefix] = spans
    }

    /// Begins importing `keys` from `source`, unless that import has already finished: then it returns false and
    /// changes nothing, so that a resumed move does not copy over writes made since. Repeating it is harmless.
    ///
    /// Keys this group released may come back from any group: from the one they went to, or from a third one they
    /// moved on to since (a span split off to group 3, passed on to group 2, then merged back). Only while the group
    /// still holds released keys is their move away unfinished (a move drops them last), so only then is an import
    /// from a group other than the one they went to refused.
    /// - Parameter holdsReleasedKeys: whether this group still holds keys among `keys` that it released.
    /// - Throws: when some of the keys are imported from a group other than `source`, or released to one while
    ///   `holdsReleasedKeys`, or when only some of them are owned here.
    public mutating func beginImport(
        _ keys: KeySelector, from source: GroupID, holdsReleasedKeys: Bool
    ) throws(ShardMapError) -> Bool {
        let states = try self.states(of: keys)
        if states.allSatisfy({ $0 == .owned }) { return false }
        for state in states {
            switch state {
            case nil, .importing(from: source), .released(to: source): continue
            case .released where !holdsReleasedKeys: continue
            case .owned: throw .invalid("some of \(keys) are already served by this group")
            case .importing, .released: throw .invalid("some of \(keys) are moving elsewhere; finish that move first")
            }
        }
        try set(keys, to: .importing(from: source))
        return true
    }

    /// Ends an import: the keys are served here from now on. Repeating it is harmless.
    public mutating func finishImport(_ keys: KeySelector) throws(ShardMapError) {
        for state in try states(of: keys) {
            switch state {
            case .importing, .owned: continue
            case nil, .released: throw .invalid("\(keys) are not being imported by this group")
            }
        }
        try set(keys, to: .owned)
    }

    /// Hands `keys` to `target`: from now on they are refused here. Repeating it is harmless.
    /// - Throws: when some of them are being imported here, released to another group, or (in a range-sharded
    ///   keyspace) not owned here.
    public mutating func release(_ keys: KeySelector, to target: GroupID) throws(ShardMapError) {
        for state in try states(of: keys) {
            switch state {
            case .owned, .released(to: target): continue
            case nil:
                if case .span = keys { throw .invalid("\(keys) are not all owned by this group") }
            case .importing: throw .invalid("some of \(keys) are still being imported by this group")
            case .released: throw .invalid("some of \(keys) were already handed to another group")
            }
        }
        try set(keys, to: .released(to: target))
    }

    /// Whether every one of `keys` was released from here.
    public func allReleased(_ keys: KeySelector) -> Bool {
        guard let states = try? states(of: keys) else { return false }
        return states.allSatisfy { if case .released = $0 { true } else { false } }
    }

    /// The state of every slot, or of every part of the span, that `keys` names.
    private func states(of keys: KeySelector) throws(ShardMapError) -> [State?] {
        switch keys {
        case .slots(let range): return range.map { slots[$0] }
        case .span(let span): return try spanMap(holding: span).parts(of: span).map(\.value)
        }
    }

    private mutating func set(_ keys: KeySelector, to state: State) throws(ShardMapError) {
        switch keys {
        case .slots(let range): for slot in range { slots[slot] = state }
        case .span(let span):
            let prefix = try keyspacePrefix(holding: span)
            keyspaces[prefix]?.set(span, to: state)
        }
    }

    private func spanMap(holding span: KeySpan) throws(ShardMapError) -> KeySpanMap<State> {
        keyspaces[try keyspacePrefix(holding: span)] ?? KeySpanMap()
    }

    private func keyspacePrefix(holding span: KeySpan) throws(ShardMapError) -> [UInt8] {
        guard let prefix = keyspaces.keys.first(where: { KeySpan(prefix: $0).covers(span) }) else {
            throw .invalid("\(span) is not within one range-sharded keyspace of this group")
        }
        return prefix
    }

    /// Every slot with a state, in slot order, and every keyspace with its spans, in prefix order: for snapshots.
    public var allSlots: [(slot: Int, state: State)] {
        slots.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public var allKeyspaces: [(prefix: [UInt8], spans: KeySpanMap<State>)] {
        keyspaces.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
    }

    /// Restores one slot's state from a snapshot.
    public mutating func restore(_ slot: HashSlot, _ state: State) { slots[slot.rawValue] = state }

    /// Restores one keyspace from a snapshot.
    /// - Throws: if it overlaps a keyspace already restored.
    public mutating func restore(prefix: [UInt8], spans: [(KeySpan, State)]) throws(ShardMapError) {
        try declare(prefix: prefix, ownedHere: false)
        for (span, state) in spans {
            guard KeySpan(prefix: prefix).covers(span) else { throw .malformed("\(span) is outside its keyspace") }
            keyspaces[prefix]?.set(span, to: state)
        }
    }
}
