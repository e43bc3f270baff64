extension KeyValueStore {
    /// Checks every structural invariant; a failure is a bug in the store, never bad input. O(state): for tests
    /// and the simulator, which calls it after every step, not for the apply path.
    public func checkInvariants() {
        precondition(compactedRevision <= revision, "compacted revision \(compactedRevision) above \(revision)")
        precondition(histories.count == index.count, "index and histories disagree on the key count")
        var previousKey: [UInt8]? = nil
        var leaseKeys: [LeaseID: Set<[UInt8]>] = [:]
        var live = 0
        index.forEachKey(from: []) { key, slot in
            if let previousKey { precondition(compareKeys(previousKey, key) < 0, "index out of order") }
            previousKey = key
            precondition(histories.slot(of: key) == slot, "index slot of \(printable(key)) is stale")
            let records = histories[slot: slot].records
            precondition(!records.isEmpty, "empty history for \(printable(key))")
            for (earlier, later) in zip(records, records.dropFirst()) {
                precondition(
                    (earlier.revision, earlier.subRevision) < (later.revision, later.subRevision),
                    "history of \(printable(key)) out of order")
                if !later.isTombstone {
                    let expectedVersion = earlier.isTombstone ? 1 : earlier.version + 1
                    precondition(later.version == expectedVersion, "version of \(printable(key)) skips")
                }
            }
            precondition(records.last!.revision <= revision, "history of \(printable(key)) is ahead of the store")
            if let lease = histories[slot: slot].latestLive?.lease { leaseKeys[lease, default: []].insert(key) }
            if histories[slot: slot].latestLive != nil { live += 1 }
            return true
        }
        precondition(live == liveKeyCount, "\(liveKeyCount) live keys counted, \(live) found")
        for (id, lease) in leases {
            precondition(lease.keys == leaseKeys[id] ?? [], "keys of \(id) disagree with the histories")
        }
        precondition(leaseKeys.keys.allSatisfy { leases[$0] != nil }, "a key is attached to a missing lease")
        let expiryOrder = leases.map { LeaseExpiry(deadline: $0.value.deadline, id: $0.key) }.sorted()
        precondition(leasesByExpiry.entries.elementsEqual(expiryOrder), "the expiry order disagrees with the leases")
        for (earlier, later) in zip(writeLog, writeLog.dropFirst()) {
            precondition(
                (earlier.revision, earlier.subRevision) < (later.revision, later.subRevision), "write log out of order")
        }
        precondition(sessions.count <= limits.sessionsMax, "more sessions than the limit")
    }
}
