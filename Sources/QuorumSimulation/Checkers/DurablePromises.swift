import QuorumConsensus

/// What a message promises about its sender's disk, checked against that disk as the message leaves: a vote (or a
/// Multi-Paxos promise) promises that the vote (or a later term) is durable, an acknowledgement that the entries (or
/// slots) it acknowledges are.
/// Only the simulator can check this, since it sees every disk; a message that breaks it is a promise a crash
/// could take back (a node voting twice in a term, a leader counting an entry no longer stored anywhere).
enum DurablePromises {
    /// Why `message` promises more than `disk` holds; nil if it promises nothing or the disk keeps its promise.
    static func broken(by message: Message, disk: RecoveredState) -> String? {
        let stored = disk.hardState
        switch message.payload {
        case .requestVoteResponse(granted: true, isPreVote: false):
            return holdsVote(for: message.to, in: message.term, stored) ? nil : "granted a vote not yet durable"
        case .requestVote(let request) where !request.isPreVote:
            return holdsVote(for: message.from, in: message.term, stored)
                ? nil : "campaigned before its own vote was durable"
        case .appendEntriesResponse(.accepted(let matchIndex)):
            // A later term on disk may have replaced the entries legitimately; the promise was for this term.
            guard stored.term <= message.term else { return nil }
            return holds(through: matchIndex, disk)
                ? nil : "acknowledged entries through \(matchIndex) before they were durable"
        case .paxos(.promise):
            // A Multi-Paxos acceptor's promise is its vote: the ballot (round, recipient) in its hard state.
            return holdsVote(for: message.to, in: message.term, stored) ? nil : "promised a ballot not yet durable"
        case .paxos(.accepted(let answer)):
            guard stored.term <= message.term else { return nil }
            return holds(through: answer.acceptedThrough, disk)
                ? nil : "answered accepted through \(answer.acceptedThrough) before those slots were durable"
        default:
            return nil
        }
    }

    /// Whether the disk holds the entry (or slot) at `index`, or a snapshot covering it.
    private static func holds(through index: LogIndex, _ disk: RecoveredState) -> Bool {
        index <= (disk.snapshot?.lastIncludedIndex ?? 0) || disk.entries.contains { $0.index == index }
    }

    private static func holdsVote(for candidate: NodeID, in term: Term, _ stored: HardState) -> Bool {
        stored.term > term || (stored.term == term && stored.votedFor == candidate)
    }
}
