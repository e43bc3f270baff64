/// Quiescence (CockroachDB's name; TiKV calls it hibernation): an idle group stops heartbeating, so a node can
/// host thousands of groups without thousands of heartbeats per tick.
///
/// A leader whose followers all hold its last entry (those on nodes the host reports silent excepted, as long as
/// the rest make a quorum), with that entry committed, applied and durable, and no proposal, read, membership
/// change or transfer pending, waits `quiescenceIdleTicks` and then sends each follower one quiesce message at
/// (term, commit index) and falls silent: it neither heartbeats nor runs CheckQuorum. A follower that holds exactly that log quiesces too and stops counting its election timer.
///
/// Anything that does not fit the quiescent state wakes the node: a proposal, read, membership change or
/// transfer; any message other than the quiesce itself (on a follower) or an acknowledgement of what the
/// leader already knows (on a leader); and `wake()`, which the host calls when its node-level liveness says the
/// leader's node is gone. A woken follower counts its election timer from zero, so it campaigns after a normal
/// timeout unless its leader speaks first, and asks its leader to wake. Safety never rests on heartbeats: a
/// quiescent leader serves no lease read (a read wakes it and takes a ReadIndex round, and leases resume only
/// once a quorum answered after waking).
///
/// On the wire a quiesce is a heartbeat whose read context has `Message.quiescenceFlag` set, and a follower's
/// request to wake its leader is a heartbeat response with that bit set. Read contexts count up from zero and
/// never reach the bit, and the peer wire format carries both unchanged.
extension Message {
    public static let quiescenceFlag: UInt64 = 1 << 63

    /// Whether this is a leader's quiesce message.
    public var isQuiesce: Bool {
        if case .heartbeat(_, let context) = payload { context & Message.quiescenceFlag != 0 } else { false }
    }
}

extension RaftNode {
    /// Wakes a quiescent node; does nothing to one that is awake. The host calls it on each quiescent follower
    /// whose leader's node lost liveness (or restarted). The follower asks that leader to wake (in case the alarm
    /// was false), then forgets it: it sends no client there and no longer defers to its lease, and it campaigns
    /// after its normal election timeout unless the leader speaks first. A quiescent leader resumes heartbeats.
    public mutating func wake() {
        guard isQuiescent else { return }
        wakeUp(askingLeader: true)
        if role == .follower { leaderHint = nil }
    }

    /// Leader tick: counts idle ticks and quiesces after enough of them. Returns whether the leader is silent.
    mutating func tickTowardQuiescence() -> Bool {
        guard options.quiescence else { return false }
        if isQuiescent { return true }
        guard canQuiesce else {
            idleTicks = 0
            return false
        }
        idleTicks += 1
        guard idleTicks >= options.quiescenceIdleTicks else { return false }
        quiesce()
        return true
    }

    /// Whether nothing remains for this leader to send, confirm or wait for, and every follower answered lately
    /// and holds its log.
    var canQuiesce: Bool {
        guard role == .leader, leadershipTransferTarget == nil, !needsBroadcast, !needsCommitBroadcast else {
            return false
        }
        guard !log.hasUnpersisted, log.stableIndex == log.lastIndex, log.commitIndex == log.lastIndex,
            log.appliedIndex == log.commitIndex, log.term(at: log.commitIndex) == term
        else { return false }
        guard reads.pending.isEmpty, reads.waitingForCommitInTerm.isEmpty, !reads.needsHeartbeat,
            !reads.awaitsLeader
        else { return false }
        // Acknowledgements must be recent: a leader that just woke, or whose followers fell silent, stays awake.
        // Followers on nodes the host found silent are left out, provided the rest make a quorum with the leader;
        // the host wakes the leader when such a node is heard again, so that it catches up.
        let reachable = progress.filter { !unreachablePeers.contains($0.key) }
        let caughtUp = reachable.values.allSatisfy { peer in
            guard case .replicate = peer.state, peer.recentlyActive else { return false }
            return peer.matchIndex == log.lastIndex && peer.inflights.count == 0
        }
        let votersHere = configuration.voters.filter { $0 == id || reachable[$0] != nil }
        return caughtUp && votersHere.count >= configuration.quorumSize
    }

    /// The host's node liveness: the peers whose node is silent now. Only quiescence depends on it (a leader
    /// quiesces past them); safety never does.
    public mutating func reportUnreachable(_ peers: Set<NodeID>) {
        unreachablePeers = peers
    }

    mutating func quiesce() {
        isQuiescent = true
        idleTicks = 0
        let context = reads.latestContext | Message.quiescenceFlag
        for peer in progress.keys.sorted() {
            send(.heartbeat(commitIndex: log.commitIndex, readContext: context), to: peer)
        }
    }

    /// A follower's answer to its leader's quiesce: quiesce if this node holds exactly the leader's committed
    /// log, otherwise ask the leader to stay awake.
    mutating func handleQuiesce(commitIndex: LogIndex, context: UInt64, from leader: NodeID) {
        let holdsLeadersLog = log.lastIndex == commitIndex && log.commitIndex == commitIndex
        if options.quiescence && holdsLeadersLog && !reads.awaitsLeader {
            isQuiescent = true
            send(.heartbeatResponse(readContext: context & ~Message.quiescenceFlag), to: leader)
        } else {
            send(.heartbeatResponse(readContext: Message.quiescenceFlag), to: leader)
        }
    }

    /// Whether a message agrees with this quiescent node's state, so it may stay asleep. Messages of an older
    /// term are refused by the term check and change nothing.
    func isConsistentWithQuiescence(_ message: Message) -> Bool {
        if message.term < term { return true }
        guard message.term == term else { return false }
        switch (role, message.payload) {
        case (.leader, .heartbeatResponse(let context)): return context & Message.quiescenceFlag == 0
        case (.leader, .appendEntriesResponse(.accepted)): return true
        case (.follower, .heartbeat): return message.isQuiesce && message.from == leaderHint
        default: return false
        }
    }

    mutating func wakeUp(askingLeader: Bool) {
        isQuiescent = false
        idleTicks = 0
        if role == .leader {
            heartbeatElapsed = 0
            electionElapsed = 0
            // Evidence gathered before sleeping says nothing about now: CheckQuorum starts afresh (the lease ran
            // out on its own, measured from the last round sent).
            for peer in progress.keys { progress[peer]!.recentlyActive = false }
            broadcastHeartbeat()
        } else {
            resetElectionTimer()
            if askingLeader, let leader = leaderHint {
                send(.heartbeatResponse(readContext: Message.quiescenceFlag), to: leader)
            }
        }
    }
}
