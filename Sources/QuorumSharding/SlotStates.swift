import QuorumConsensus

/// What one group's state machine knows of its hash slots beyond the founding assignment: the slots it is
/// importing, has adopted, or has released to another group. Every replica applies the same moves in log order,
/// so a request for a slot the group released is refused by every replica at the same point, whatever map the
/// request was routed with: the check that makes a stale route harmless.
///
/// A slot the group never heard of is served, as at the cluster's founding: routing by the shard map sends a
/// group only the slots it was founded with or has adopted.
public struct SlotStates: Hashable, Sendable {
    public enum State: Hashable, Sendable {
        /// Keys are arriving from `from`; the slot serves nothing until the import is finished.
        case importing(from: GroupID)
        /// Imported and finished: served here.
        case adopted
        /// Handed to `to`: refused here. Its keys stay until the move drops them, so that a move that stops half-way
        /// can be resumed without losing any.
        case released(to: GroupID)
    }

    /// Why a slot is not served here.
    public enum Refusal: Hashable, Sendable {
        case moved(slot: HashSlot, to: GroupID)
        case importing(slot: HashSlot)
    }

    private var states: [Int: State] = [:]

    public init() {}

    public var isEmpty: Bool { states.isEmpty }

    public func state(of slot: HashSlot) -> State? { states[slot.rawValue] }

    /// Nil if `key`'s slot is served here.
    public func refusal(forKey key: some Collection<UInt8>) -> Refusal? {
        // Most groups never see a move: no hashing on their request path.
        guard !states.isEmpty else { return nil }
        let slot = HashSlot(key: key)
        switch states[slot.rawValue] {
        case nil, .adopted: return nil
        case .importing: return .importing(slot: slot)
        case .released(let target): return .moved(slot: slot, to: target)
        }
    }

    /// Whether `key` belongs to `slots` and was released from here: what a move exports and later drops.
    public func isReleased(_ key: some Collection<UInt8>, in slots: ClosedRange<Int>) -> Bool {
        let slot = HashSlot(key: key).rawValue
        guard slots.contains(slot), case .released = states[slot] else { return false }
        return true
    }

    /// Begins importing `slots` from `source`, unless that import has already finished: then it returns false and
    /// changes nothing, so that a resumed move does not copy over writes made since. Repeating it is harmless.
    /// - Throws: when some slot is released to a group other than `source` or being imported from one, or when only
    ///   some of the slots are adopted.
    public mutating func beginImport(_ slots: ClosedRange<Int>, from source: GroupID) throws(ShardMapError) -> Bool {
        if slots.allSatisfy({ states[$0] == .adopted }) { return false }
        for slot in slots {
            switch states[slot] {
            case nil, .importing(from: source), .released(to: source): continue
            case .adopted:
                throw .invalid("slot \(slot) is already served by this group")
            case .importing, .released:
                throw .invalid("slot \(slot) is moving elsewhere; finish that move first")
            }
        }
        for slot in slots { states[slot] = .importing(from: source) }
        return true
    }

    /// Ends an import: the slots are served here from now on. Repeating it is harmless.
    public mutating func finishImport(_ slots: ClosedRange<Int>) throws(ShardMapError) {
        for slot in slots {
            switch states[slot] {
            case .importing, .adopted: continue
            case nil, .released: throw .invalid("slot \(slot) is not being imported by this group")
            }
        }
        for slot in slots { states[slot] = .adopted }
    }

    /// Whether keys of `slot` may be adopted now: it is being imported.
    public func isImporting(_ slot: HashSlot) -> Bool {
        if case .importing = states[slot.rawValue] { return true }
        return false
    }

    /// Hands `slots` to `target`: from now on they are refused here. Repeating it is harmless.
    /// - Throws: when some slot is being imported here, or was released to another group.
    public mutating func release(_ slots: ClosedRange<Int>, to target: GroupID) throws(ShardMapError) {
        for slot in slots {
            switch states[slot] {
            case nil, .adopted, .released(to: target): continue
            case .importing: throw .invalid("slot \(slot) is still being imported by this group")
            case .released: throw .invalid("slot \(slot) was already handed to another group")
            }
        }
        for slot in slots { states[slot] = .released(to: target) }
    }

    /// Every slot with a state, in slot order: for snapshots.
    public var all: [(slot: Int, state: State)] {
        states.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Restores one slot's state from a snapshot.
    public mutating func restore(_ slot: HashSlot, _ state: State) { states[slot.rawValue] = state }
}
