/// Linearizable reads by read index: the leader notes its commit index, confirms with a quorum that no newer ballot
/// was promised (an acceptor answers a heartbeat of this ballot only while it still admits it), and the reader waits
/// for its state machine to reach that slot. A new leader first waits until every slot open at its takeover is
/// chosen, since before then its commit index may lag behind slots earlier leaders had chosen.
extension MultiPaxosNode {
    public mutating func readIndex(requestID: UInt64) throws(ProposalError) {
        if role == .leader {
            serveRead(requestID: requestID, requester: id)
        } else if leaderHint != nil {
            reads.toForward.append(requestID)
        } else {
            throw .notLeader(leaderHint: nil)
        }
    }

    /// Sends the leader one request for every read that arrived since the last Ready.
    mutating func forwardReads() {
        guard !reads.toForward.isEmpty else { return }
        let requestIDs = reads.toForward
        reads.toForward.removeAll()
        if role == .leader {
            for requestID in requestIDs { serveRead(requestID: requestID, requester: id) }
        } else if let leader = leaderHint {
            reads.lastForwardID &+= 1
            send(.readIndexRequest(requestID: reads.lastForwardID), to: leader, round: promised.round)
            reads.forwarded.append(
                ReadIndexTracker.ForwardedReads(forwardID: reads.lastForwardID, leader: leader, requestIDs: requestIDs))
        } else {
            for requestID in requestIDs { readStates.append(ReadState(requestID: requestID, index: nil)) }
        }
    }

    mutating func handleForwardedRead(requestID: UInt64, from requester: NodeID) {
        guard role == .leader else {
            send(.readIndexResponse(requestID: requestID, index: nil), to: requester, round: promised.round)
            return
        }
        serveRead(requestID: requestID, requester: requester)
    }

    mutating func serveRead(requestID: UInt64, requester: NodeID) {
        guard log.commitIndex >= takeoverIndex else {
            reads.waitingForCommitInTerm.append((requestID, requester))
            return
        }
        if configurations.isQuorum([id], forSlotsFrom: log.commitIndex.advanced(by: 1)) {
            answerRead(requestID: requestID, requester: requester, index: log.commitIndex)
            return
        }
        reads.needsHeartbeat = true
        reads.pending.append(
            .init(
                requestID: requestID, requester: requester, index: log.commitIndex, context: reads.latestContext + 1,
                acknowledgements: [id]))
    }

    /// An answer to round `context` of this ballot proves `peer` still admitted it after every read registered up to
    /// that round.
    mutating func acknowledgeReads(context: UInt64, from peer: NodeID) {
        for position in reads.pending.indices where reads.pending[position].context <= context {
            reads.pending[position].acknowledgements.insert(peer)
        }
        // A majority of every configuration governing a slot past the read's: any leader that chose a slot past it
        // had promises from one of these majorities (phase 1 covers every slot after its chosen prefix).
        while let first = reads.pending.first,
            configurations.isQuorum(first.acknowledgements, forSlotsFrom: first.index.advanced(by: 1))
        {
            reads.pending.removeFirst()
            answerRead(requestID: first.requestID, requester: first.requester, index: first.index)
        }
    }

    mutating func releaseReadsWaitingForTakeover() {
        guard !reads.waitingForCommitInTerm.isEmpty, log.commitIndex >= takeoverIndex else { return }
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

    /// Fails forwarded reads that waited longer than an election timeout; with `all`, every one.
    mutating func expireForwardedReads(all: Bool) {
        guard !reads.forwarded.isEmpty else { return }
        var waiting: [ReadIndexTracker.ForwardedReads] = []
        for var batch in reads.forwarded {
            batch.ticksWaited += 1
            if all || batch.ticksWaited > options.electionTimeoutTicks {
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
            send(.readIndexResponse(requestID: requestID, index: index), to: requester, round: promised.round)
        }
    }
}
