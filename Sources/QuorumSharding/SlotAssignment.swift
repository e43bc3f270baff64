import QuorumConsensus

/// Which consensus group owns each hash slot: contiguous slot ranges, each owned by one group.
///
/// A pure value: every node derives the same assignment from the same inputs, and routing asks it for a key's group.
public struct SlotAssignment: Hashable, Sendable {
    /// Slot ranges in slot order, covering every slot exactly once.
    public let ranges: [SlotRange]

    public struct SlotRange: Hashable, Sendable {
        public var slots: ClosedRange<Int>
        public var group: GroupID
        public init(slots: ClosedRange<Int>, group: GroupID) {
            self.slots = slots
            self.group = group
        }
    }

    /// The 16,384 slots split into `groups.count` contiguous ranges of nearly equal size, in group order, exactly as
    /// `redis-cli --cluster create` splits them over masters (range `i` ends at `round((i + 1) * 16384 / n) - 1`), so
    /// a Quorum cluster of three groups answers CLUSTER SLOTS as a three-master Redis Cluster would. Beyond 16,384
    /// groups, the first 16,384 own one slot each and the rest none.
    /// - Precondition: `groups` is not empty.
    public init(evenlyOver groups: [GroupID]) {
        precondition(!groups.isEmpty, "slots need at least one group")
        let owners = Array(groups.sorted().prefix(HashSlot.count))
        let count = owners.count
        var start = 0
        var ranges: [SlotRange] = []
        for (position, group) in owners.enumerated() {
            // lround((position + 1) * 16384 / count - 1) in integers: (2a + b) / 2b rounds a / b half up.
            let end =
                position == count - 1
                ? HashSlot.count - 1 : (2 * (position + 1) * HashSlot.count - count) / (2 * count)
            ranges.append(SlotRange(slots: start...end, group: group))
            start = end + 1
        }
        self.ranges = ranges
    }

    /// The group that owns `slot`.
    public func group(of slot: HashSlot) -> GroupID {
        // Ranges are sorted and cover every slot: find the last that starts at or before the slot.
        var low = 0
        var high = ranges.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if ranges[middle].slots.lowerBound <= slot.rawValue { low = middle } else { high = middle - 1 }
        }
        return ranges[low].group
    }

    public func group(ofKey key: some Collection<UInt8>) -> GroupID { group(of: HashSlot(key: key)) }

    /// The slot ranges `group` owns, in slot order.
    public func slots(of group: GroupID) -> [ClosedRange<Int>] {
        ranges.filter { $0.group == group }.map(\.slots)
    }

    /// An assignment from explicit ranges, as a shard map stores it.
    /// - Throws: unless the ranges are sorted, contiguous and cover every slot exactly once.
    public init(validating ranges: [SlotRange]) throws(ShardMapError) {
        var next = 0
        for range in ranges {
            guard range.slots.lowerBound == next else {
                throw .malformed("slot ranges must cover 0-\(HashSlot.count - 1) in order, without gaps or overlaps")
            }
            next = range.slots.upperBound + 1
        }
        guard next == HashSlot.count else { throw .malformed("slot ranges stop at \(next - 1), before the last slot") }
        self.ranges = ranges
    }

    /// The groups that own some slot of `slots`, in slot order, each once.
    public func owners(of slots: ClosedRange<Int>) -> [GroupID] {
        var owners: [GroupID] = []
        for range in ranges where range.slots.overlaps(slots) && owners.last != range.group {
            owners.append(range.group)
        }
        return owners
    }

    /// The same assignment with `slots` given to `group`; neighbouring ranges of one group are merged, so that
    /// equal ownership has one representation.
    public func reassigning(_ slots: ClosedRange<Int>, to group: GroupID) -> SlotAssignment {
        var pieces: [SlotRange] = []
        for range in ranges {
            if range.slots.lowerBound < slots.lowerBound {
                pieces.append(SlotRange(slots: range.slots.lowerBound...min(range.slots.upperBound, slots.lowerBound - 1), group: range.group))
            }
            if range.slots.upperBound > slots.upperBound {
                pieces.append(SlotRange(slots: max(range.slots.lowerBound, slots.upperBound + 1)...range.slots.upperBound, group: range.group))
            }
        }
        pieces.append(SlotRange(slots: slots, group: group))
        pieces.sort { $0.slots.lowerBound < $1.slots.lowerBound }
        var merged: [SlotRange] = []
        for piece in pieces {
            if let last = merged.last, last.group == piece.group, last.slots.upperBound + 1 == piece.slots.lowerBound {
                merged[merged.count - 1].slots = last.slots.lowerBound...piece.slots.upperBound
            } else {
                merged.append(piece)
            }
        }
        return SlotAssignment(ranges: merged)
    }

    private init(ranges: [SlotRange]) { self.ranges = ranges }
}
