import DequeModule

/// Linearizable reads waiting for the leader to confirm it still leads (thesis §6.4).
struct ReadIndexTracker: Sendable {
    struct PendingRead: Sendable {
        var requestID: UInt64
        /// Who asked: the leader itself, or a follower that forwarded the read.
        var requester: NodeID
        /// The commit index when the read arrived: the state machine must reach it before reading.
        var index: LogIndex
        /// The heartbeat round that confirms this read; an answer to a later round confirms it too.
        var context: UInt64
        var acknowledgements: Set<NodeID>
    }

    var pending: Deque<PendingRead> = []
    /// Reads that arrived before the leader committed an entry of its term, when its commit index may lag.
    var waitingForCommitInTerm: [(requestID: UInt64, requester: NodeID)] = []
    /// The context of the newest heartbeat round; every round gets the next.
    var latestContext: UInt64 = 0
    /// Reads registered since the last `ready()` share one heartbeat round, sent with that Ready.
    var needsHeartbeat = false
    /// On a follower: reads that arrived since the last `ready()`, forwarded with it to the leader in one request.
    var toForward: [UInt64] = []
    /// On a follower: forwarded requests not yet answered, each with the reads it carries and the ticks it has
    /// waited. A lost request or answer, or a change of leader, would otherwise leave the readers waiting forever.
    var forwarded: [ForwardedReads] = []
    /// The id of the newest forwarded request; the leader echoes it in its answer. It starts where the engine's seed
    /// says, so that a host that seeds each start differently never reuses an id a delayed answer may still carry.
    var lastForwardID: UInt64 = 0

    struct ForwardedReads {
        var forwardID: UInt64
        /// Only this leader's answer counts.
        var leader: NodeID
        var requestIDs: [UInt64]
        var ticksWaited = 0
    }

    /// Whether this follower has reads waiting for the leader's answer, or about to ask it.
    var awaitsLeader: Bool { !toForward.isEmpty || !forwarded.isEmpty }
}

extension RaftNode {
    public mutating func readIndex(requestID: UInt64) throws(ProposalError) {
        if isQuiescent {
            if role == .leader && options.injectedBug == .quiescentLeaderServesReads {
                readStates.append(ReadState(requestID: requestID, index: log.commitIndex))
                return
            }
            // The forwarded request wakes the leader; a leader wakes itself and confirms with a heartbeat round.
            wakeUp(askingLeader: false)
        }
        if role == .leader {
            serveRead(requestID: requestID, requester: id)
        } else if leaderHint != nil {
            reads.toForward.append(requestID)
        } else {
            throw .notLeader(leaderHint: nil)
        }
    }

    /// Sends the leader one request for every read that arrived on this follower since the last Ready: one
    /// heartbeat round there confirms them all. Reads that meanwhile found this node leading are served here; with
    /// no leader known they fail, to be retried.
    mutating func forwardReads() {
        guard !reads.toForward.isEmpty else { return }
        let requestIDs = reads.toForward
        reads.toForward.removeAll()
        if role == .leader {
            for requestID in requestIDs { serveRead(requestID: requestID, requester: id) }
        } else if let leader = leaderHint {
            reads.lastForwardID &+= 1
            send(.readIndexRequest(requestID: reads.lastForwardID), to: leader)
            reads.forwarded.append(
                ReadIndexTracker.ForwardedReads(forwardID: reads.lastForwardID, leader: leader, requestIDs: requestIDs))
        } else {
            for requestID in requestIDs { readStates.append(ReadState(requestID: requestID, index: nil)) }
        }
    }

    mutating func handleForwardedRead(requestID: UInt64, from requester: NodeID) {
        guard role == .leader else {
            send(.readIndexResponse(requestID: requestID, index: nil), to: requester)
            return
        }
        serveRead(requestID: requestID, requester: requester)
    }

    mutating func serveRead(requestID: UInt64, requester: NodeID) {
        idleTicks = 0
        guard log.term(at: log.commitIndex) == term else {
            reads.waitingForCommitInTerm.append((requestID, requester))
            return
        }
        if configuration.voters == [id] || (options.leaseReads && lease.holds(at: ticks))
            || options.injectedBug == .readIndexWithoutHeartbeat
        {
            answerRead(requestID: requestID, requester: requester, index: log.commitIndex)
            return
        }
        reads.needsHeartbeat = true
        // Any round sent from now on confirms it: the next has the next context.
        reads.pending.append(
            .init(
                requestID: requestID, requester: requester, index: log.commitIndex,
                context: reads.latestContext + 1, acknowledgements: isVoter ? [id] : []))
    }

    /// A heartbeat answer for round `context` proves `peer` accepted this leader after every read registered
    /// up to that round.
    mutating func acknowledgeReads(context: UInt64, from peer: NodeID) {
        guard configuration.voters.contains(peer) else { return }
        if options.leaseReads {
            let duration = options.electionTimeoutTicks - options.leaseDriftMarginTicks
            lease.answered(
                round: context, by: peer, leader: id, voters: configuration.voters, quorum: configuration.quorumSize,
                duration: UInt64(duration))
        }
        for position in reads.pending.indices where reads.pending[position].context <= context {
            reads.pending[position].acknowledgements.insert(peer)
        }
        while let first = reads.pending.first, first.acknowledgements.count >= configuration.quorumSize {
            reads.pending.removeFirst()
            answerRead(requestID: first.requestID, requester: first.requester, index: first.index)
        }
    }

    mutating func releaseReadsWaitingForCommitInTerm() {
        guard !reads.waitingForCommitInTerm.isEmpty, log.term(at: log.commitIndex) == term else { return }
        let waiting = reads.waitingForCommitInTerm
        reads.waitingForCommitInTerm.removeAll()
        for read in waiting { serveRead(requestID: read.requestID, requester: read.requester) }
    }

    mutating func handleReadIndexResponse(requestID forwardID: UInt64, index: LogIndex?, from sender: NodeID) {
        guard let position = reads.forwarded.firstIndex(where: { $0.forwardID == forwardID && $0.leader == sender })
        else { return }
        let batch = reads.forwarded.remove(at: position)
        for requestID in batch.requestIDs { readStates.append(ReadState(requestID: requestID, index: index)) }
    }

    /// Fails forwarded reads that waited longer than an election timeout; with `all`, every one (the leader
    /// changed, so no answer will come).
    mutating func expireForwardedReads(all: Bool) {
        guard !reads.forwarded.isEmpty else { return }
        let limit = options.electionTimeoutTicks
        var waiting: [ReadIndexTracker.ForwardedReads] = []
        for var batch in reads.forwarded {
            batch.ticksWaited += 1
            if all || batch.ticksWaited > limit {
                for requestID in batch.requestIDs { readStates.append(ReadState(requestID: requestID, index: nil)) }
            } else {
                waiting.append(batch)
            }
        }
        reads.forwarded = waiting
    }

    mutating func failPendingReads() {
        for read in reads.pending { answerRead(requestID: read.requestID, requester: read.requester, index: nil) }
        for read in reads.waitingForCommitInTerm {
            answerRead(requestID: read.requestID, requester: read.requester, index: nil)
        }
        reads.pending.removeAll()
        reads.waitingForCommitInTerm.removeAll()
        reads.needsHeartbeat = false
    }

    mutating func answerRead(requestID: UInt64, requester: NodeID, index: LogIndex?) {
        if requester == id {
            readStates.append(ReadState(requestID: requestID, index: index))
        } else {
            send(.readIndexResponse(requestID: requestID, index: index), to: requester)
        }
    }
}
