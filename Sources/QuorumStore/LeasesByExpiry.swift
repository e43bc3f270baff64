import DequeModule

/// Every lease ordered by (deadline, id), kept in step with `KeyValueStore.leases`, so that the leader's expiry
/// check on every tick reads only the leases that are due instead of sorting them all.
///
/// A binary-searched `Deque` rather than:
/// - a heap with lazy deletion: `expiredLeases` is a non-mutating query, and a heap gives up its order only by
///   popping; the stale entry every keep-alive leaves behind would also pile up until it reached the top;
/// - an `Array`: a `Deque` closes or opens a gap by moving whichever side is shorter, and the usual changes are
///   near an end. Revokes take the earliest deadlines from the front; grants and keep-alives are stamped with the
///   leader's current clock, so with similar TTLs they land near the back. Only an insert or removal in the middle
///   moves up to n / 2 entries of 16 bytes: about 10 µs at 100,000 leases, where a chunked order like
///   `SortedKeyIndex`'s would start to pay for its extra code;
/// - swift-collections' `SortedSet`, which no released version ships.
struct LeasesByExpiry: Sendable {
    /// Invariant: strictly increasing, one entry per lease.
    private(set) var entries: Deque<LeaseExpiry> = []

    init() {}

    /// Orders the leases of a restored snapshot with one sort rather than n inserts into the middle.
    init(_ leases: [LeaseID: LeaseState]) {
        entries = Deque(leases.map { LeaseExpiry(deadline: $0.value.deadline, id: $0.key) }.sorted())
    }

    /// The first position whose entry is >= `entry`.
    private func lowerBound(_ entry: LeaseExpiry) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle] < entry { low = middle + 1 } else { high = middle }
        }
        return low
    }

    mutating func insert(_ entry: LeaseExpiry) {
        let position = lowerBound(entry)
        precondition(position == entries.count || entries[position] != entry, "\(entry.id) ordered twice")
        entries.insert(entry, at: position)
    }

    mutating func remove(_ entry: LeaseExpiry) {
        let position = lowerBound(entry)
        precondition(position < entries.count && entries[position] == entry, "\(entry.id) is not in the order")
        entries.remove(at: position)
    }

    /// The ids of the leases whose deadline is at or before `now`, earliest first, at most `limit` of them.
    /// Costs O(ids returned): the due leases are a prefix.
    func ids(dueBy now: StoreTime, limit: Int) -> [LeaseID] {
        guard limit > 0 else { return [] }
        return entries.prefix(limit).prefix { $0.deadline <= now }.map(\.id)
    }
}

struct LeaseExpiry: Hashable, Comparable, Sendable {
    var deadline: StoreTime
    /// Breaks ties between equal deadlines, so that which leases fit under `expiredLeases`' limit does not depend
    /// on the order leases were granted in or on hashing.
    var id: LeaseID

    static func < (lhs: LeaseExpiry, rhs: LeaseExpiry) -> Bool { (lhs.deadline, lhs.id) < (rhs.deadline, rhs.id) }
}
