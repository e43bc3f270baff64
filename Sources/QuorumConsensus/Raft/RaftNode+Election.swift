/// Elections: timeouts, PreVote, vote granting, leader leases and stepping down (Raft §5.2, thesis §4.2.3, §9.6).
extension RaftNode {
    mutating func tickElection() {
        // A quiescent follower's leader is silent on purpose; the host's node liveness wakes it if needed.
        if isQuiescent { return }
        expireForwardedReads(all: false)
        electionElapsed += 1
        guard electionElapsed >= randomizedElectionTimeout else { return }
        resetElectionTimer()
        guard mayCampaign else { return }
        startElection(preVote: options.preVote, isLeadershipTransfer: false)
    }

    mutating func tickLeader() {
        if tickTowardQuiescence() { return }
        heartbeatElapsed += 1
        electionElapsed += 1
        for peer in progress.keys.sorted() where progress[peer]!.tick(stallTicks: options.electionTimeoutTicks) {
            sendAppend(to: peer, sendIfEmpty: true)
        }
        if leadershipTransferTarget != nil {
            leadershipTransferElapsed += 1
            // A transfer that did not finish within an election timeout is abandoned (thesis §3.10).
            if leadershipTransferElapsed >= options.electionTimeoutTicks { leadershipTransferTarget = nil }
        }
        if electionElapsed >= options.electionTimeoutTicks {
            electionElapsed = 0
            if options.checkQuorum && !hasActiveQuorum() {
                becomeFollower(term: term, leader: nil)
                return
            }
            for peer in progress.keys { progress[peer]!.recentlyActive = false }
        }
        if heartbeatElapsed >= options.heartbeatIntervalTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat()
        }
    }

    /// Whether a quorum of voters (counting this leader if it votes) was heard from this round.
    func hasActiveQuorum() -> Bool {
        let active = configuration.voters.filter { $0 == id || progress[$0]?.recentlyActive == true }
        return active.count >= configuration.quorumSize
    }

    /// Whether this node heard from a leader within the minimum election timeout: its lease protects the
    /// leader from being deposed by a node that merely lost contact (thesis §4.2.3).
    var isWithinLeaderLease: Bool {
        // A node restarted on its data has forgotten whom it heard from: with lease reads, some leader may still hold
        // a lease it helped grant (a node with no term yet never helped grant one).
        let restarted = options.leaseReads && recoveredTerm > 0 && ticks < UInt64(options.electionTimeoutTicks)
        let mayHaveGranted = leaderHint != nil || restarted
        return options.checkQuorum && mayHaveGranted && electionElapsed < options.electionTimeoutTicks
    }

    mutating func startElection(preVote: Bool, isLeadershipTransfer: Bool) {
        precondition(mayCampaign, "only voters, and voters being removed, campaign")
        isQuiescent = false
        let electionTerm: Term
        if preVote {
            role = .preCandidate
            leaderHint = nil
            electionTerm = term.next
        } else {
            becomeCandidate()
            electionTerm = term
        }
        // A voter of the committed configuration that the newest one removes asks only the newest one's voters.
        votes = isVoter ? [id: true] : [:]
        let request = VoteRequest(
            lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm, isPreVote: preVote,
            isLeadershipTransfer: isLeadershipTransfer
        )
        for voter in configuration.voters.sorted() where voter != id {
            send(.requestVote(request), to: voter, term: electionTerm)
        }
        tallyVotes(isPreVote: preVote)
    }

    mutating func becomeCandidate() {
        precondition(role != .leader, "a leader does not campaign")
        term = term.next
        votedFor = id
        role = .candidate
        leaderHint = nil
        clearLeaderState()
        resetElectionTimer()
    }

    mutating func becomeFollower(term newTerm: Term, leader: NodeID?) {
        precondition(newTerm >= term, "terms never decrease")
        // Reads forwarded to another leader, or in another term, will never be answered.
        if leader != leaderHint || newTerm > term { expireForwardedReads(all: true) }
        if newTerm > term {
            term = newTerm
            votedFor = nil
        }
        if role == .leader { failPendingReads() }
        role = .follower
        leaderHint = leader
        isQuiescent = false
        clearLeaderState()
        resetElectionTimer()
    }

    mutating func clearLeaderState() {
        progress.removeAll()
        leadershipTransferTarget = nil
        votes.removeAll()
        needsBroadcast = false
        needsCommitBroadcast = false
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader")
        role = .leader
        expireForwardedReads(all: true)
        leaderHint = id
        votes.removeAll()
        heartbeatElapsed = 0
        isQuiescent = false
        idleTicks = 0
        lease = LeaderLease()
        resetElectionTimer()
        rebuildProgress()
        // Nothing before this no-op may change membership until it commits: that is the fix that makes
        // single-server changes safe across leader changes.
        pendingConfigurationIndex = log.lastIndex.advanced(by: 1)
        _ = appendAsLeader(.noop)
    }

    /// Applies the rules every message obeys before its own: adopt a newer term, refuse an older one
    /// (Raft §5.1). Returns whether the message should be handled further.
    mutating func handleTerm(of message: Message) -> Bool {
        if message.term > term {
            switch message.payload {
            case .requestVote(let request):
                // Ignore disruptive campaigns while a leader is known to be alive, unless the leader itself
                // asked for the campaign. Neither adopt the term nor answer.
                if !request.isLeadershipTransfer && isWithinLeaderLease { return false }
                if request.isPreVote { return true }
                becomeFollower(term: message.term, leader: nil)
            case .requestVoteResponse(granted: true, isPreVote: true):
                // A granted pre-vote carries the term we would campaign in, not the voter's.
                return true
            case .appendEntries, .heartbeat, .installSnapshot:
                becomeFollower(term: message.term, leader: message.from)
            default:
                becomeFollower(term: message.term, leader: nil)
            }
            return true
        }
        if message.term < term {
            switch message.payload {
            case .appendEntries, .heartbeat, .installSnapshot:
                // Tell a deposed leader about the newer term so it steps down; otherwise, with PreVote, it could
                // keep a follower from ever campaigning.
                send(.appendEntriesResponse(.accepted(matchIndex: 0)), to: message.from)
            case .requestVote(let request) where request.isPreVote:
                send(.requestVoteResponse(granted: false, isPreVote: true), to: message.from)
            default:
                break
            }
            return false
        }
        return true
    }

    mutating func handleVoteRequest(_ request: VoteRequest, from candidate: NodeID, term requestTerm: Term) {
        let logIsUpToDate =
            options.injectedBug == .voteWithoutLogCheck
            || log.isUpToDate(lastIndex: request.lastLogIndex, lastTerm: request.lastLogTerm)
        let canVote =
            votedFor == candidate || (votedFor == nil && leaderHint == nil) || (request.isPreVote && requestTerm > term)
        let granted = canVote && logIsUpToDate
        if granted && !request.isPreVote {
            votedFor = candidate
            resetElectionTimer()
        }
        // A granted pre-vote answers in the candidate's prospective term; everything else in ours.
        let answerTerm = request.isPreVote && granted ? requestTerm : term
        send(.requestVoteResponse(granted: granted, isPreVote: request.isPreVote), to: candidate, term: answerTerm)
    }

    mutating func handleVoteResponse(granted: Bool, isPreVote: Bool, from voter: NodeID, term responseTerm: Term) {
        switch (role, isPreVote) {
        case (.preCandidate, true) where responseTerm == term.next || !granted:
            break
        case (.candidate, false) where responseTerm == term:
            break
        default:
            return  // A late answer to an election that is over.
        }
        guard configuration.voters.contains(voter), votes[voter] == nil else { return }
        votes[voter] = granted
        tallyVotes(isPreVote: isPreVote)
    }

    mutating func tallyVotes(isPreVote: Bool) {
        let quorum = configuration.quorumSize
        let granted = votes.values.filter { $0 }.count
        let refused = votes.count - granted
        if granted >= quorum {
            if isPreVote {
                startElection(preVote: false, isLeadershipTransfer: false)
            } else {
                becomeLeader()
            }
        } else if configuration.voters.count - refused < quorum {
            becomeFollower(term: term, leader: nil)
        }
    }

    /// The target campaigns at once, and its voters ignore their leases for it: this leader's lease is void for the
    /// rest of its term.
    mutating func sendTimeoutNow(to target: NodeID) {
        lease.isRevoked = true
        send(.timeoutNow, to: target)
    }

    mutating func handleTimeoutNow() {
        guard isVoter, role != .leader else { return }
        startElection(preVote: false, isLeadershipTransfer: true)
    }

    public mutating func transferLeadership(to target: NodeID) throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leaderHint: leaderHint) }
        guard target != id else { return }
        if isQuiescent { wakeUp(askingLeader: false) }
        guard configuration.voters.contains(target), progress[target] != nil else {
            throw .invalidConfigurationChange("\(target) is not a voter and cannot lead")
        }
        // A repeat changes nothing (as in etcd). The transfer keeps its own timer: restarting the election timer here
        // would let anyone who can ask for transfers postpone CheckQuorum forever.
        guard leadershipTransferTarget != target else { return }
        leadershipTransferTarget = target
        leadershipTransferElapsed = 0
        if progress[target]!.matchIndex == log.lastIndex {
            sendTimeoutNow(to: target)
        } else {
            sendAppend(to: target, sendIfEmpty: true)
        }
    }
}
