/// A message between two members of one consensus group.
///
/// Every message carries the sender's term; the receiver compares it with its own before anything else
/// (Raft §5.1; for Multi-Paxos, the round of the ballot concerned). Remote input: the engine's `step` validates it
/// and never traps on it.
public struct Message: Hashable, Sendable, CustomStringConvertible {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var payload: Payload

    public init(from: NodeID, to: NodeID, term: Term, payload: Payload) {
        self.from = from
        self.to = to
        self.term = term
        self.payload = payload
    }

    public enum Payload: Hashable, Sendable {
        case appendEntries(AppendEntries)
        case appendEntriesResponse(AppendEntriesResponse)
        /// A vote request; with `isPreVote` it asks whether a vote would be granted, changing nothing (thesis §9.6).
        case requestVote(VoteRequest)
        case requestVoteResponse(granted: Bool, isPreVote: Bool)
        /// Carries the commit index the receiver may safely adopt, and a read context to confirm leadership.
        case heartbeat(commitIndex: LogIndex, readContext: UInt64)
        case heartbeatResponse(readContext: UInt64)
        case installSnapshot(Snapshot)
        /// Sent by a leader handing over leadership: campaign now, ignoring leases (thesis §3.10).
        case timeoutNow
        /// A follower forwards a linearizable read to its leader.
        case readIndexRequest(requestID: UInt64)
        /// The leader's answer: the index to wait for, or nil if it cannot serve the read now.
        case readIndexResponse(requestID: UInt64, index: LogIndex?)
        /// Everything Multi-Paxos sends (`MultiPaxosNode`); a Raft engine refuses it, as Multi-Paxos refuses the rest.
        case paxos(PaxosMessage)

        /// The snapshot a leader sends a lagging member, whichever engine sent it.
        public var snapshot: Snapshot? {
            switch self {
            case .installSnapshot(let snapshot), .paxos(.snapshot(let snapshot)): snapshot
            default: nil
            }
        }

        /// Whether only the leader of the message's term sends it.
        public var isFromLeader: Bool {
            switch self {
            case .appendEntries, .heartbeat, .installSnapshot, .timeoutNow: true
            default: false
            }
        }
    }

    /// Bytes this message counts for in flow control; close to its encoded size.
    public var sizeInBytes: Int {
        switch payload {
        case .appendEntries(let append): 48 + append.entries.reduce(0) { $0 + $1.encodedBytes }
        case .installSnapshot(let snapshot), .paxos(.snapshot(let snapshot)): 64 + snapshot.data.count
        case .paxos(.accept(let accept)): 48 + accept.entries.reduce(0) { $0 + $1.encodedBytes }
        case .paxos(.promise(let promise)): 48 + promise.accepted.reduce(0) { $0 + 8 + $1.value.encodedBytes }
        default: 48
        }
    }

    public var description: String { "\(from)->\(to) \(term) \(payload)" }
}

public struct AppendEntries: Hashable, Sendable {
    public var previousIndex: LogIndex
    public var previousTerm: Term
    public var entries: [Entry]
    public var leaderCommit: LogIndex

    public init(previousIndex: LogIndex, previousTerm: Term, entries: [Entry], leaderCommit: LogIndex) {
        self.previousIndex = previousIndex
        self.previousTerm = previousTerm
        self.entries = entries
        self.leaderCommit = leaderCommit
    }
}

public enum AppendEntriesResponse: Hashable, Sendable {
    /// The follower's log matches the leader's through `matchIndex`.
    case accepted(matchIndex: LogIndex)
    /// The entry at `rejectedIndex` did not match. The hint names the follower's last entry at or below
    /// `rejectedIndex` whose term is no greater than the leader's, so the leader skips a whole term per round
    /// trip instead of one index.
    case rejected(rejectedIndex: LogIndex, hintIndex: LogIndex, hintTerm: Term)
}

public struct VoteRequest: Hashable, Sendable {
    public var lastLogIndex: LogIndex
    public var lastLogTerm: Term
    public var isPreVote: Bool
    /// Set when the campaign was started by `timeoutNow`: voters then ignore their leader lease.
    public var isLeadershipTransfer: Bool

    public init(lastLogIndex: LogIndex, lastLogTerm: Term, isPreVote: Bool, isLeadershipTransfer: Bool) {
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
        self.isPreVote = isPreVote
        self.isLeadershipTransfer = isLeadershipTransfer
    }
}
