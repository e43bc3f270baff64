/// Which expired leases a leader proposes to revoke, tick by tick. The leader decides on its own clock that a lease
/// has expired, but the revocation itself is a log entry: every replica deletes the lease's keys when it applies
/// it, so a lease ends once, at one point of the log, whatever the clocks did. At most `perTick` new revocations a
/// tick, so that a leader whose clock jumped ahead does not flood the log; none proposed twice while in flight.
/// Pure: the server's group runtime and the simulator's store worlds both decide through it.
public struct LeaseRevocations: Sendable {
    public let perTick: Int
    /// Revocations proposed and not yet applied.
    public private(set) var inFlight: Set<LeaseID> = []

    public init(perTick: Int) {
        precondition(perTick > 0, "a leader must revoke at least one lease a tick")
        self.perTick = perTick
    }

    /// The leases to propose revoking now, at `now` on the leader's clock; call `proposed(_:)` for each one the log
    /// takes. A node that does not lead proposes nothing and forgets what it had in flight: a new leader decides
    /// afresh, and an entry it lost is proposed again if it leads again.
    public mutating func due(in store: KeyValueStore, now: StoreTime, isLeader: Bool) -> [LeaseID] {
        guard isLeader else {
            inFlight.removeAll()
            return []
        }
        inFlight = inFlight.filter { store.hasLease($0) }
        let expired = store.expiredLeases(now: now, limit: perTick + inFlight.count)
        let inFlight = inFlight
        return Array(expired.lazy.filter { !inFlight.contains($0) }.prefix(perTick))
    }

    public mutating func proposed(_ lease: LeaseID) { inFlight.insert(lease) }
}
