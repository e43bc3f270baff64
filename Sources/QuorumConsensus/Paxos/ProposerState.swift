/// What a node running phase 1 has gathered so far.
struct Takeover: Sendable {
    var ballot: Ballot
    /// Slots from here on are asked about: everything after the candidate's own chosen prefix.
    var firstSlot: LogIndex
    var isTransfer: Bool
    /// The voters a prepare went to: those of every configuration the values recovered so far say governs a slot
    /// from `firstSlot` on.
    var asked: Set<NodeID> = []
    /// Promises by voter, this node's own included.
    var promises: [NodeID: PaxosPromise] = [:]
    var refusals: Set<NodeID> = []
}

/// A leader's view of one acceptor's phase 2.
struct PeerProgress: Sendable {
    /// Every slot through here is accepted there in this leader's ballot (or chosen there).
    var matchIndex: LogIndex
    /// The next slot to send.
    var nextIndex: LogIndex
    /// Heard from since the last quorum check.
    var recentlyActive = false
    /// Leader ticks since `matchIndex` last advanced while slots were outstanding.
    var ticksWithoutProgress = 0
    var pace = Pace.replicating
    /// Leader ticks until another snapshot may be sent (one is in flight).
    var snapshotCooldown = 0

    var inflightSlots: Int { max(0, matchIndex.distance(to: nextIndex) - 1) }
    var isProbing: Bool { pace != .replicating }

    /// How many slots the leader keeps in flight to the acceptor.
    enum Pace: Sendable {
        /// Where the acceptor stands is unknown (a leader took over without its promise, or it just joined): one batch
        /// at a time, and its first answer says where to go on from.
        case unknown
        /// Accepts or their answers were lost, or it reported a gap: one batch at a time from what it holds, until an
        /// answer shows that batch accepted, or a heartbeat's answer says where it stands. Answers to accepts sent
        /// before the probe say nothing new: each restarting the pipeline would send the window once per answer.
        case probing
        /// A full pipeline.
        case replicating
    }
}

extension MultiPaxosNode {
    /// The value a new leader proposes at each open slot: the one accepted in the highest round any promise reports
    /// (Paxos's phase-1 rule), or a no-op of its own round where none was accepted. Returns the values in slot order,
    /// from `firstSlot` through the highest slot any promise reports.
    static func recoveredValues(
        from promises: some Collection<PaxosPromise>, firstSlot: LogIndex, round: Term, ignoringOthers own: PaxosPromise?
    ) -> [Entry] {
        var best: [LogIndex: AcceptedValue] = [:]
        var last = firstSlot.advanced(by: -1)
        let considered: [PaxosPromise] = own.map { [$0] } ?? Array(promises)
        for promise in considered {
            for item in promise.accepted where item.value.index >= firstSlot {
                if let known = best[item.value.index], known.round >= item.round { continue }
                best[item.value.index] = item
                last = max(last, item.value.index)
            }
        }
        var values: [Entry] = []
        var slot = firstSlot
        while slot <= last {
            values.append(best[slot]?.value ?? Entry(term: round, index: slot, kind: .noop))
            slot = slot.advanced(by: 1)
        }
        return values
    }
}
