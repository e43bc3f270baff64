/// Phase 1 and failure detection: timeouts with randomized backoff, prepare/promise once for every open slot, and
/// the new leader's re-proposal of every value a promise reported.
extension MultiPaxosNode {
    mutating func tickElection() {
        expireForwardedReads(all: false)
        electionElapsed += 1
        guard electionElapsed >= randomizedElectionTimeout else { return }
        resetElectionTimer()
        guard isVoter else { return }
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
                // Accepts or their answers were lost: probe with one batch from what the acceptor holds, and go on
                // once it answers (a heartbeat's answer does too), rather than resend a whole pipeline to a node
                // that may be down.
                if peers[peer]!.ticksWithoutProgress >= 2 * options.heartbeatIntervalTicks + 2 {
                    peers[peer]!.ticksWithoutProgress = 0
                    peers[peer]!.isProbing = true
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
        let active = configuration.voters.filter { $0 == id || peers[$0]?.recentlyActive == true }
        return active.count >= configuration.quorumSize
    }

    /// Whether this node heard from a leader within the minimum election timeout: it then ignores other proposers'
    /// prepares, so that a node that merely lost contact cannot depose a working leader.
    var isWithinLeaderLease: Bool {
        options.checkQuorum && leaderHint != nil && electionElapsed < options.electionTimeoutTicks
    }

    /// Runs phase 1 in a round above every round seen: promise it to itself, then ask every other voter, for every
    /// slot after this node's chosen prefix.
    mutating func startTakeover(isTransfer: Bool) {
        precondition(isVoter, "only voters propose")
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
        var state = Takeover(ballot: ballot, firstSlot: firstSlot)
        state.promises[id] = PaxosPromise(commitIndex: log.commitIndex, accepted: log.acceptedValues(from: firstSlot))
        takeover = state
        for voter in configuration.voters.sorted() where voter != id {
            send(.prepare(firstSlot: firstSlot, isTransfer: isTransfer), to: voter, round: ballot.round)
        }
        tallyPromises()
    }

    mutating func handlePrepare(ballot: Ballot, firstSlot: LogIndex, isTransfer: Bool) {
        guard configuration.voters.contains(ballot.node) else { return }
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
        guard configuration.voters.contains(acceptor), state.promises[acceptor] == nil else { return }
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

    mutating func tallyPromises() {
        guard let state = takeover else { return }
        let quorum = configuration.quorumSize
        if state.promises.count >= quorum {
            becomeLeader()
        } else if configuration.voters.count - state.refusals.count < quorum {
            stepDown(leader: nil)
        }
    }

    mutating func becomeLeader() {
        guard let state = takeover else { preconditionFailure("no phase 1 to complete") }
        let ballot = state.ballot
        takeover = nil
        role = .leader
        leaderHint = id
        heartbeatElapsed = 0
        resetElectionTimer()
        expireForwardedReads(all: true)
        let own = options.injectedBug == .ignorePromisedValues ? state.promises[id] : nil
        let firstOpen = log.commitIndex.advanced(by: 1)
        let values = Self.recoveredValues(
            from: state.promises.values, firstSlot: firstOpen, round: ballot.round, ignoringOthers: own)
        // Every open slot is proposed again in this ballot, and accepted here first.
        for value in values { log.set(SlotRecord(round: ballot.round, value: value), at: value.index) }
        // This node's own promise reported all of its slots, so the values cover its whole log.
        precondition(log.lastIndex == log.commitIndex.advanced(by: values.count), "the takeover left slots uncovered")
        takeoverIndex = log.lastIndex
        peers.removeAll()
        for peer in configuration.members where peer != id {
            if let promise = state.promises[peer] {
                // It holds chosen values through its commit index; everything after it needs this ballot's accepts.
                let chosen = min(promise.commitIndex, log.lastIndex)
                peers[peer] = PeerProgress(matchIndex: chosen, nextIndex: chosen.advanced(by: 1))
            } else {
                // Unknown until it answers a heartbeat; its answer says where to start.
                peers[peer] = PeerProgress(matchIndex: 0, nextIndex: log.lastIndex.advanced(by: 1), isProbing: true)
            }
        }
        needsBroadcast = true
        needsCommitBroadcast = true
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
        guard isVoter, role != .leader, leader == promised.node, round == promised.round else { return }
        startTakeover(isTransfer: true)
    }
}
