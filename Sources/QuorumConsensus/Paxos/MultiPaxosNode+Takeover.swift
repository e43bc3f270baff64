/// Phase 1 and failure detection: timeouts with randomized backoff, prepare/promise once for every open slot, and
/// the new leader's re-proposal of every value a promise reported.
extension MultiPaxosNode {
    mutating func tickElection() {
        expireForwardedReads(all: false)
        electionElapsed += 1
        guard electionElapsed >= randomizedElectionTimeout else { return }
        if role == .candidate { failedTakeovers += 1 }
        resetElectionTimer()
        guard mayCampaign else { return }
        // A candidate that did not gather a quorum in time tries again in a newer round, after a backoff drawn anew.
        startTakeover(isTransfer: false)
    }

    mutating func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        for peer in peers.keys.sorted() {
            if peers[peer]!.snapshotCooldown > 0 { peers[peer]!.snapshotCooldown -= 1 }
            if peers[peer]!.matchIndex < log.lastIndex && !peers[peer]!.isProbing {
                peers[peer]!.ticksWithoutProgress += 1
                // Accepts or their answers were lost: probe with one batch from what the acceptor holds rather than
                // resend a whole pipeline to a node that may be down.
                if peers[peer]!.ticksWithoutProgress >= 2 * options.heartbeatIntervalTicks + 2 {
                    peers[peer]!.ticksWithoutProgress = 0
                    peers[peer]!.pace = .probing
                    peers[peer]!.nextIndex = peers[peer]!.matchIndex.advanced(by: 1)
                    sendAccepts(to: peer, sendIfEmpty: false)
                }
            }
        }
        if transferTarget != nil {
            transferElapsed += 1
            if transferElapsed >= options.electionTimeoutTicks { transferTarget = nil }
        }
        if electionElapsed >= options.electionTimeoutTicks {
            electionElapsed = 0
            if options.checkQuorum && !hasActiveQuorum() {
                stepDown(leader: nil)
                return
            }
            for peer in peers.keys { peers[peer]!.recentlyActive = false }
        }
        if heartbeatElapsed >= options.heartbeatIntervalTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat()
        }
    }

    func hasActiveQuorum() -> Bool {
        let active = Set(peers.filter(\.value.recentlyActive).keys).union([id])
        return configurations.isQuorum(active, forSlotsFrom: log.commitIndex.advanced(by: 1))
    }

    /// Whether this node heard from a leader within the minimum election timeout: it then ignores other proposers'
    /// prepares, so that a node that merely lost contact cannot depose a working leader.
    var isWithinLeaderLease: Bool {
        options.checkQuorum && leaderHint != nil && electionElapsed < options.electionTimeoutTicks
    }

    /// Runs phase 1 in a round above every round seen: promise it to itself, then ask every voter of the
    /// configurations it knows for the slots after its chosen prefix, for every one of those slots.
    mutating func startTakeover(isTransfer: Bool) {
        precondition(mayCampaign, "only voters propose")
        if role == .leader { failPendingReads() }
        let ballot = Ballot(round: max(promised.round, highestRoundSeen).next, node: id)
        highestRoundSeen = ballot.round
        promised = ballot
        role = .candidate
        leaderHint = nil
        clearLeaderState()
        expireForwardedReads(all: true)
        resetElectionTimer()
        let firstSlot = log.commitIndex.advanced(by: 1)
        var state = Takeover(ballot: ballot, firstSlot: firstSlot, isTransfer: isTransfer)
        state.promises[id] = PaxosPromise(commitIndex: log.commitIndex, accepted: log.acceptedValues(from: firstSlot))
        takeover = state
        tallyPromises()
    }

    mutating func handlePrepare(ballot: Ballot, firstSlot: LogIndex, isTransfer: Bool) {
        // A node that no open slot's configuration, nor the newest, counts as a member was removed: it may not depose
        // anyone. (A new voter is a member here at least as a learner.)
        guard configuration.contains(ballot.node)
            || configurations.members(forSlotsFrom: log.commitIndex.advanced(by: 1)).contains(ballot.node)
        else { return }
        if ballot != promised && !isTransfer && isWithinLeaderLease { return }
        guard promised.admits(ballot) else {
            send(
                .reject(PaxosRejection(refusedRound: ballot.round, promisedNode: promised.node, compactedThrough: 0)),
                to: ballot.node, round: promised.round)
            return
        }
        guard log.baseIndex < firstSlot else {
            // Slots the candidate has not learned are gone from here: this promise could not report them.
            send(
                .reject(
                    PaxosRejection(
                        refusedRound: ballot.round, promisedNode: promised.node, compactedThrough: log.baseIndex)),
                to: ballot.node, round: promised.round)
            return
        }
        if ballot != promised {
            if role != .follower || leaderHint != nil { stepDown(leader: nil) }
            promised = ballot
            // Give the candidate an election timeout to finish before campaigning against it.
            resetElectionTimer()
        }
        let promise = PaxosPromise(commitIndex: log.commitIndex, accepted: log.acceptedValues(from: firstSlot))
        send(.promise(promise), to: ballot.node, round: ballot.round)
    }

    mutating func handlePromise(_ promise: PaxosPromise, from acceptor: NodeID, round: Term) throws(StepError) {
        guard role == .candidate, var state = takeover, state.ballot.round == round else { return }
        guard state.asked.contains(acceptor), state.promises[acceptor] == nil else { return }
        for item in promise.accepted where item.value.index < state.firstSlot {
            throw .protocolViolation("\(acceptor) reported slot \(item.value.index), before the \(state.firstSlot) asked for")
        }
        state.promises[acceptor] = promise
        state.refusals.remove(acceptor)
        takeover = state
        tallyPromises()
    }

    mutating func handleRejection(_ rejection: PaxosRejection, from acceptor: NodeID, round: Term) {
        guard let ballot = ownBallot, rejection.refusedRound == ballot.round else { return }
        if rejection.compactedThrough > 0 {
            // Another node knows more chosen slots than this one can recover; let it (or a leader's snapshot) lead.
            guard role == .candidate, var state = takeover else { return }
            state.refusals.insert(acceptor)
            takeover = state
            tallyPromises()
            return
        }
        // Outranked: this ballot cannot complete. Back off; the next attempt goes above the round just learned.
        stepDown(leader: nil)
    }

    /// Decides phase 1 from the promises so far. Which configurations must promise depends on the values recovered:
    /// a change among them governs the slots α after it, so its voters are asked too, and their promises may reveal
    /// more values. Phase 1 completes once a majority of every configuration governing a slot from the first open one
    /// on has promised.
    ///
    /// Why that is safe although this node may not know a chosen change: say a value v was chosen at slot n in an
    /// earlier ballot. Its leader opened n only when it knew every slot up to n − α chosen, and counted v's
    /// acceptors in the configuration those slots fix. By induction on slots, the values recovered here at slots up to
    /// n − α are those chosen ones (each was chosen, and recovered from a majority of the configuration fixed by the
    /// chosen slots α before it), so the configuration computed here for n is the one v was chosen in; a majority of
    /// it promised, so one of them reports v, in the highest round, and v is what this node proposes at n. Slots up to
    /// this node's own commit index + α need nothing recovered: their configurations follow from its chosen prefix.
    mutating func tallyPromises() {
        guard var state = takeover else { return }
        let own = options.injectedBug == .ignorePromisedValues ? state.promises[id] : nil
        let values = Self.recoveredValues(
            from: state.promises.values, firstSlot: state.firstSlot, round: state.ballot.round, ignoringOthers: own)
        var recovered = configurations
        recovered.forgetChanges(from: state.firstSlot)
        for value in values {
            if let change = value.configurationChange { recovered.record(change, at: value.index) }
        }
        let voters = recovered.epochs(from: state.firstSlot).reduce(into: Set<NodeID>()) {
            $0.formUnion($1.configuration.voters)
        }
        for voter in voters.subtracting(state.asked).subtracting([id]).sorted() {
            state.asked.insert(voter)
            send(.prepare(firstSlot: state.firstSlot, isTransfer: state.isTransfer), to: voter, round: state.ballot.round)
        }
        takeover = state
        if recovered.isQuorum(Set(state.promises.keys), forSlotsFrom: state.firstSlot) {
            becomeLeader(values: values, configurations: recovered)
        } else if recovered.isBlocked(by: state.refusals, forSlotsFrom: state.firstSlot) {
            stepDown(leader: nil)
        }
    }

    mutating func becomeLeader(values: [Entry], configurations recovered: ConfigurationHistory) {
        guard let state = takeover else { preconditionFailure("no phase 1 to complete") }
        let ballot = state.ballot
        takeover = nil
        failedTakeovers = 0
        role = .leader
        leaderHint = id
        leadershipRound = ballot.round
        heartbeatElapsed = 0
        resetElectionTimer()
        expireForwardedReads(all: true)
        let firstOpen = log.commitIndex.advanced(by: 1)
        precondition(firstOpen == state.firstSlot, "the chosen prefix moved during phase 1")
        // Every open slot is proposed again in this ballot, and accepted here first.
        for value in values { log.set(SlotRecord(round: ballot.round, value: value), at: value.index) }
        // This node's own promise reported all of its slots, so the values cover its whole log.
        precondition(log.lastIndex == log.commitIndex.advanced(by: values.count), "the takeover left slots uncovered")
        configurations = recovered
        takeoverIndex = log.lastIndex
        peers.removeAll()
        for peer in configurations.members(forSlotsFrom: firstOpen).subtracting([id]) {
            if let promise = state.promises[peer] {
                // It holds chosen values through its commit index; everything after it needs this ballot's accepts.
                let chosen = min(promise.commitIndex, log.lastIndex)
                peers[peer] = PeerProgress(matchIndex: chosen, nextIndex: chosen.advanced(by: 1))
            } else {
                // Unknown until it answers a heartbeat; its answer says where to start.
                peers[peer] = PeerProgress(matchIndex: 0, nextIndex: log.lastIndex.advanced(by: 1), pace: .unknown)
            }
        }
        needsBroadcast = true
        needsCommitBroadcast = true
        openWindow()
        maybeCommit()
    }

    /// Gives up leading or campaigning; keeps the promise (a promise never goes back).
    mutating func stepDown(leader: NodeID?) {
        if leader != leaderHint { expireForwardedReads(all: true) }
        if role == .leader { failPendingReads() }
        role = .follower
        leaderHint = leader
        takeover = nil
        clearLeaderState()
        resetElectionTimer()
    }

    mutating func clearLeaderState() {
        peers.removeAll()
        dropWaitingValues()
        transferTarget = nil
        needsBroadcast = false
        needsCommitBroadcast = false
    }

    public mutating func transferLeadership(to target: NodeID) throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leaderHint: leaderHint) }
        guard target != id else { return }
        guard configuration.voters.contains(target), peers[target] != nil else {
            throw .invalidConfigurationChange("\(target) is not a voter and cannot lead")
        }
        guard transferTarget != target else { return }
        transferTarget = target
        transferElapsed = 0
        if peers[target]!.matchIndex == log.lastIndex {
            send(.timeoutNow, to: target, round: promised.round)
        } else {
            sendAccepts(to: target, sendIfEmpty: true)
        }
    }

    mutating func handleTimeoutNow(from leader: NodeID, round: Term) {
        guard mayCampaign, role != .leader, leader == promised.node, round == promised.round else { return }
        startTakeover(isTransfer: true)
    }
}
