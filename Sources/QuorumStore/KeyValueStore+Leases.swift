extension KeyValueStore {
    mutating func grantLease(_ id: LeaseID, ttl: LeaseTTL, at grantedAt: StoreTime) throws(StoreError) {
        if id.rawValue == 0 { throw .invalidLeaseID }
        if ttl.milliseconds == 0 { throw .invalidTTL }
        if leases[id] != nil { throw .leaseAlreadyExists(id) }
        let deadline = grantedAt.adding(ttl)
        leases[id] = LeaseState(ttl: ttl, deadline: deadline, keys: [])
        leasesByExpiry.insert(LeaseExpiry(deadline: deadline, id: id))
    }

    /// Renews a lease from `now`. A lease whose deadline has passed is refused as not found: the leader may
    /// already have proposed its revoke, and renewing it in between would let a client believe it still holds
    /// keys that are about to vanish (etcd's lessor refuses the same way).
    mutating func keepLeaseAlive(_ id: LeaseID, at now: StoreTime) throws(StoreError) -> LeaseTTL {
        guard let lease = leases[id], now < lease.deadline else { throw .leaseNotFound(id) }
        let deadline = now.adding(lease.ttl)
        leases[id]?.deadline = deadline
        leasesByExpiry.remove(LeaseExpiry(deadline: lease.deadline, id: id))
        leasesByExpiry.insert(LeaseExpiry(deadline: deadline, id: id))
        return lease.ttl
    }

    /// Deletes the lease and its keys, all in one revision (none if it had no keys).
    mutating func revokeLease(_ id: LeaseID) throws(StoreError) -> [WatchEvent] {
        guard let lease = leases.removeValue(forKey: id) else { throw .leaseNotFound(id) }
        leasesByExpiry.remove(LeaseExpiry(deadline: lease.deadline, id: id))
        var batch = beginWrite()
        // Sorted so every replica deletes (and numbers sub-revisions) in the same order.
        for key in lease.keys.sorted(by: { compareKeys($0, $1) < 0 }) { deleteLiveKey(key, with: &batch) }
        finishWrite(batch)
        return batch.events
    }

    /// Leases whose deadline is at or before `now`, earliest first, at most `limit` of them. The leader calls
    /// this on its own clock and proposes a `.leaseRevoke` for each; `limit` rate-limits the revokes so a leader
    /// whose clock jumped cannot flood the log. O(leases returned), however many leases are granted.
    public func expiredLeases(now: StoreTime, limit: Int) -> [LeaseID] {
        leasesByExpiry.ids(dueBy: now, limit: limit)
    }

    /// Whether the lease is still granted: O(1), for the leader to forget the revokes that have been applied
    /// without listing every lease.
    public func hasLease(_ id: LeaseID) -> Bool { leases[id] != nil }

    /// A lease's granted TTL, remaining time and attached keys (sorted), as seen at `now`.
    public func timeToLive(of id: LeaseID, now: StoreTime) throws(StoreError) -> LeaseStatus {
        guard let lease = leases[id] else { throw .leaseNotFound(id) }
        let remaining = lease.deadline > now ? (lease.deadline.milliseconds - now.milliseconds) / 1000 : 0
        return LeaseStatus(
            id: id, grantedTTL: lease.ttl, remainingSeconds: remaining, deadline: lease.deadline,
            keys: lease.keys.sorted { compareKeys($0, $1) < 0 })
    }

    /// Every lease id, ascending.
    public func leaseIDs() -> [LeaseID] { leases.keys.sorted() }

    public var leaseCount: Int { leases.count }
}
