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

}
