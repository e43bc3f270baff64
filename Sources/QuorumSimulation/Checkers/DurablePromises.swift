import QuorumConsensus

/// What a message promises about its sender's disk, checked against that disk as the message leaves: a vote (or a
/// Multi-Paxos promise) promises that the vote (or a later term) is durable, an acknowledgement that the entries (or
/// slots) it acknowledges are.
/// Only the simulator can check this, since it sees every disk; a message that breaks it is a promise a crash
/// could take back (a node voting twice in a term, a leader counting an entry no longer stored anywhere).
enum DurablePromises {
    /// One message's promise about its sender's disk.
    enum Promise {
        /// The sender's hard state holds `term` with a vote for `candidate`, or a later term.
        case vote(for: NodeID, in: Term, what: String)
        /// The sender's log holds the entry (or slot) at `index`, unless a term after `term` replaced it.
        case entries(through: LogIndex, in: Term, what: String)

        /// Why `disk` does not keep this promise; nil if it does.
        func broken(by disk: RecoveredState) -> String? {
            let stored = disk.hardState
            switch self {
            case .vote(let candidate, let term, let what):
                let holds = stored.term > term || (stored.term == term && stored.votedFor == candidate)
                return holds ? nil : what
            case .entries(let index, let term, let what):
                // A later term on disk may have replaced the entries legitimately; the promise was for this term.
                guard stored.term <= term else { return nil }
                let holds =
                    index <= (disk.snapshot?.lastIncludedIndex ?? 0) || disk.entries.contains { $0.index == index }
                return holds ? nil : what
            }
        }
    }

    /// What `message` promises about its sender's disk, if anything.
    static func promise(of message: Message) -> Promise? {
        switch message.payload {
        case .requestVoteResponse(granted: true, isPreVote: false):
            return .vote(for: message.to, in: message.term, what: "granted a vote not yet durable")
        case .requestVote(let request) where !request.isPreVote:
            return .vote(for: message.from, in: message.term, what: "campaigned before its own vote was durable")
        case .appendEntriesResponse(.accepted(let matchIndex)):
            return .entries(
                through: matchIndex, in: message.term,
                what: "acknowledged entries through \(matchIndex) before they were durable")
        case .paxos(.promise):
            // A Multi-Paxos acceptor's promise is its vote: the ballot (round, recipient) in its hard state.
            return .vote(for: message.to, in: message.term, what: "promised a ballot not yet durable")
        case .paxos(.accepted(let answer)):
            return .entries(
                through: answer.acceptedThrough, in: message.term,
                what: "answered accepted through \(answer.acceptedThrough) before those slots were durable")
        default:
            return nil
        }
    }

    /// Why `message` promises more than `disk` holds; nil if it promises nothing or the disk keeps its promise.
    static func broken(by message: Message, disk: RecoveredState) -> String? {
        promise(of: message)?.broken(by: disk)
    }
}

/// The latest promise of each kind a node made: what its disk must still hold when it restarts, whatever happened
/// to the disk in between (a crash loses only what was never promised).
struct LatestPromises {
    private var vote: Message?
    private var entries: Message?

    mutating func record(_ message: Message) {
        switch DurablePromises.promise(of: message) {
        case .vote?: vote = message
        case .entries?: entries = message
        case nil: break
        }
    }

    /// Why a node restarting on `disk` would take back a promise it made before; nil if it would not.
    func forgotten(by disk: RecoveredState) -> String? {
        for message in [vote, entries].compactMap({ $0 }) where DurablePromises.broken(by: message, disk: disk) != nil {
            return "restarted on a disk that no longer holds what it promised in \(message)"
        }
        return nil
    }
}
