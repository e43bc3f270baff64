/// Phase 2: accepts per slot, pipelined and batched; commit notices piggybacked on accepts and heartbeats; snapshots
/// for acceptors that lag behind the leader's compacted slots.
extension MultiPaxosNode {
    mutating func broadcastAccepts(sendIfEmpty: Bool) {
        for peer in peers.keys.sorted() {
            sendAccepts(to: peer, sendIfEmpty: sendIfEmpty && peers[peer]!.inflightSlots == 0)
        }
    }

    /// An empty accept to every acceptor: the commit notice, and a new read round.
    mutating func broadcastHeartbeat() {
        reads.latestContext += 1
        for peer in peers.keys.sorted() {
            let heartbeat = PaxosAccept(entries: [], commitIndex: log.commitIndex, readContext: reads.latestContext)
            send(.accept(heartbeat), to: peer, round: promised.round)
        }
    }

    /// Sends the acceptor the slots it lacks, as far as the pipeline allows, or the snapshot when they were
    /// compacted away.
    mutating func sendAccepts(to peer: NodeID, sendIfEmpty: Bool) {
        guard var progress = peers[peer] else { return }
        defer { peers[peer] = progress }
        var sent = false
        if progress.nextIndex <= log.baseIndex {
            guard progress.snapshotCooldown == 0, let snapshot = latestSnapshot else { return }
            send(.snapshot(snapshot), to: peer, round: promised.round)
            progress.snapshotCooldown = options.electionTimeoutTicks
            progress.nextIndex = snapshot.lastIncludedIndex.advanced(by: 1)
            sent = true
        }
        // While probing, one batch at a time; otherwise a full pipeline.
        let inflightMax = progress.isProbing ? min(options.maxEntriesPerAccept, options.maxInflightSlots) : options.maxInflightSlots
        while progress.nextIndex <= log.lastIndex && progress.inflightSlots < inflightMax {
            let last = min(
                log.lastIndex, progress.nextIndex.advanced(by: options.maxEntriesPerAccept - 1),
                progress.matchIndex.advanced(by: inflightMax))
            let values = log.values(from: progress.nextIndex, through: last, bytesMax: options.maxBytesPerAccept)
            let accept = PaxosAccept(entries: values, commitIndex: log.commitIndex, readContext: reads.latestContext)
            send(.accept(accept), to: peer, round: promised.round)
            progress.nextIndex = values.last!.index.advanced(by: 1)
            sent = true
        }
        if !sent && sendIfEmpty {
            let accept = PaxosAccept(entries: [], commitIndex: log.commitIndex, readContext: reads.latestContext)
            send(.accept(accept), to: peer, round: promised.round)
        }
    }

    /// Adopts `ballot` if it is admitted: the sender leads it, and this node follows. Returns false (having told the
    /// sender) if this acceptor promised a newer ballot.
    mutating func follow(_ ballot: Ballot) -> Bool {
        if promised.admits(ballot) {
            if ballot != promised { promised = ballot }
            if role != .follower { stepDown(leader: ballot.node) }
        } else if options.injectedBug != .acceptBelowPromise || role != .follower {
            send(
                .reject(PaxosRejection(refusedRound: ballot.round, promisedNode: promised.node, compactedThrough: 0)),
                to: ballot.node, round: promised.round)
            return false
        }
        if leaderHint != ballot.node {
            expireForwardedReads(all: true)
            leaderHint = ballot.node
        }
        leadershipRound = max(leadershipRound, ballot.round)
        electionElapsed = 0
        if failedTakeovers > 0 {
            // A leader is back: should it fail, this node's next attempt is a first one again.
            failedTakeovers = 0
            resetElectionTimer()
        }
        return true
    }

    mutating func handleAccept(_ accept: PaxosAccept, ballot: Ballot) throws(StepError) {
        if role == .leader && ballot.round == promised.round {
            throw .protocolViolation("\(ballot.node) acts as leader of round \(ballot.round), which this node leads")
        }
        // Only with the injected bug `acceptBelowPromise`: it then takes an outranked ballot's values, into slots where
        // it accepted nothing (so two leaders do not overwrite each other's slots back and forth forever).
        let belowPromise = !promised.admits(ballot)
        guard follow(ballot) else { return }
        for value in accept.entries {
            let slot = value.index
            // Slots are accepted in order: one past a gap waits for the gap to be sent again (the answer says where
            // it is). Accepting it would leave gaps whose filling, one accept at a time, rewrites every stored slot
            // after each of them.
            if slot > log.lastIndex.advanced(by: 1) { break }
            if belowPromise, log.record(at: slot)?.isAccepted == true { continue }
            if slot <= log.commitIndex {
                // Chosen here already: a correct leader sends the same value.
                if let known = log.record(at: slot)?.value, known != value {
                    throw .protocolViolation("\(ballot.node) sent \(value) over chosen \(known)")
                }
                continue
            }
            if let record = log.record(at: slot), record.round == ballot.round {
                guard record.value == value else {
                    throw .protocolViolation("\(ballot.node) sent two values for slot \(slot) in round \(ballot.round)")
                }
                continue
            }
            store(SlotRecord(round: ballot.round, value: value), at: slot)
        }
        let held = log.prefix(acceptedIn: ballot.round)
        log.commit(through: min(accept.commitIndex, held))
        let answer = PaxosAccepted(
            acceptedThrough: held, requestLast: accept.entries.last?.index ?? 0, readContext: accept.readContext)
        send(.accepted(answer), to: ballot.node, round: ballot.round)
    }

    mutating func handleAccepted(_ accepted: PaxosAccepted, from peer: NodeID, round: Term) throws(StepError) {
        guard role == .leader, round == promised.round, var progress = peers[peer] else { return }
        if accepted.acceptedThrough > log.lastIndex {
            throw .protocolViolation("\(peer) accepted through \(accepted.acceptedThrough), beyond the last slot \(log.lastIndex)")
        }
        progress.recentlyActive = true
        let advanced = accepted.acceptedThrough > progress.matchIndex
        if advanced {
            progress.matchIndex = accepted.acceptedThrough
            progress.ticksWithoutProgress = 0
        }
        let answersHeartbeat = accepted.requestLast == 0
        switch progress.pace {
        case .unknown:
            progress.pace = .replicating
            progress.nextIndex = progress.matchIndex.advanced(by: 1)
        case .probing where advanced || answersHeartbeat:
            progress.pace = .replicating
            progress.nextIndex = progress.matchIndex.advanced(by: 1)
        case .probing:
            break
        case .replicating
        where accepted.requestLast > progress.matchIndex && accepted.acceptedThrough == progress.matchIndex:
            // It holds slots past a gap, and knows no more than this leader does (an older answer, reordered, would
            // report a gap already filled): probe from the gap.
            progress.pace = .probing
            progress.nextIndex = progress.matchIndex.advanced(by: 1)
        case .replicating:
            break
        }
        if progress.nextIndex <= progress.matchIndex { progress.nextIndex = progress.matchIndex.advanced(by: 1) }
        peers[peer] = progress
        acknowledgeReads(context: accepted.readContext, from: peer)
        maybeCommit()
        guard role == .leader else { return }
        maybePromoteLearners()
        if transferTarget == peer && peers[peer]!.matchIndex == log.lastIndex {
            send(.timeoutNow, to: peer, round: promised.round)
        }
        sendAccepts(to: peer, sendIfEmpty: false)
    }

    mutating func handleSnapshot(_ snapshot: Snapshot, ballot: Ballot) throws(StepError) {
        if role == .leader && ballot.round == promised.round {
            throw .protocolViolation("\(ballot.node) acts as leader of round \(ballot.round), which this node leads")
        }
        guard follow(ballot) else { return }
        let index = snapshot.lastIncludedIndex
        if index > log.commitIndex {
            var installed = snapshot
            installed.lastIncludedTerm = log.restore(through: index, leaderRound: snapshot.lastIncludedTerm)
            // The leader's snapshot is settled (every change in it governs every later slot): its configuration is
            // that of every slot after it, as far as the accepted slots kept here do not change it.
            configurations = ConfigurationHistory(
                base: snapshot.configuration, changeSlot: index, delay: configurations.delay)
            rebuildConfigurations(from: index.advanced(by: 1))
            latestSnapshot = installed
            snapshotToInstall = installed
            snapshotRequestOutstanding = false
        }
        let held = log.prefix(acceptedIn: ballot.round)
        send(
            .accepted(PaxosAccepted(acceptedThrough: held, requestLast: 0, readContext: 0)), to: ballot.node,
            round: ballot.round)
    }

    /// Declares chosen every slot a quorum of its configuration's voters accepted in this ballot (this leader counting
    /// itself only for slots durable here, and only where it votes; learners never count). Every slot after the chosen
    /// prefix holds this ballot's value, so no older-round rule is needed: phase 1 made each of them safe.
    mutating func maybeCommit() {
        precondition(role == .leader, "only a leader decides what is chosen")
        var chosen = log.commitIndex
        for epoch in configurations.epochs(from: chosen.advanced(by: 1)) {
            let voters = epoch.configuration.voters
            guard !voters.isEmpty else { break }
            var matches = voters.map { $0 == id ? log.durableThrough : peers[$0]?.matchIndex ?? 0 }
            matches.sort(by: >)
            let accepted = min(matches[epoch.configuration.quorumSize - 1], log.lastIndex)
            guard accepted >= epoch.first else { break }
            chosen = epoch.last.map { min(accepted, $0) } ?? accepted
            if let last = epoch.last, chosen < last { break }
        }
        guard chosen > log.commitIndex else { return }
        log.commit(through: chosen)
        needsCommitBroadcast = true
        releaseReadsWaitingForTakeover()
        trackMembers()
        openWindow()
        stepAsideIfRemoved()
    }
}
