import DequeModule

/// A leader's lease to serve reads without a heartbeat round (`RaftOptions.leaseReads`), measured from when the
/// rounds a quorum answered were *sent*: a follower that answers a round heard it after it was sent, and refuses
/// votes for an election timeout from then, so no new leader can exist before the round's send time plus that
/// timeout. Measuring from when the answers arrived, or from CheckQuorum's window, would overstate it.
struct LeaderLease: Sendable {
    /// Heartbeat rounds sent within the last election timeout, oldest first, with the tick each was sent at.
    private var rounds: Deque<(context: UInt64, sentAt: UInt64)> = []
    /// The newest round each voter answered.
    private var answered: [NodeID: UInt64] = [:]
    /// Reads may be served without a round before this tick.
    private(set) var expiresAt: UInt64 = 0
    /// Set once this leader sent TimeoutNow: its target's voters ignore their leases.
    var isRevoked = false

    mutating func sent(round context: UInt64, at tick: UInt64, keepingTicks: UInt64) {
        rounds.append((context, tick))
        while let oldest = rounds.first, oldest.sentAt + keepingTicks < tick { rounds.removeFirst() }
    }

    /// `peer` answered round `context`. The lease runs from the newest round a quorum (this leader included, if it
    /// votes) has answered, for `duration` ticks.
    mutating func answered(
        round context: UInt64, by peer: NodeID, leader: NodeID, voters: Set<NodeID>, quorum: Int, duration: UInt64
    ) {
        guard voters.contains(peer) else { return }
        answered[peer] = max(answered[peer] ?? 0, context)
        let contexts = voters.map { $0 == leader ? UInt64.max : answered[$0] ?? 0 }.sorted(by: >)
        let confirmed = contexts[quorum - 1]
        // A round older than the ones kept is older than an election timeout: it grants nothing any more.
        guard let round = rounds.last(where: { $0.context <= confirmed }) else { return }
        expiresAt = max(expiresAt, round.sentAt + duration)
    }

    func holds(at tick: UInt64) -> Bool { !isRevoked && tick < expiresAt }
}
