/// Everything the engine needs its driver to do, handed over in one batch.
///
/// The driver processes a `Ready` in this order, and calls `acknowledge(readyNumber:)` once step 3 is durable. It may
/// take the next Ready before then: storage persists Readies in the order they were taken (thesis §10.2.1's pipeline),
/// and each Ready's `messagesAfterPersist` wait for that Ready's own write.
/// 1. Send `messages` at once. A leader's appends go out while its own disk write is still in flight,
///    which is safe because the leader counts itself towards a commit only once persisted (thesis §10.2.1).
/// 2. Restore the state machine from `snapshot` if present, then apply `committedEntries` in order. Both are
///    already durable, so applying overlaps with the write below.
/// 3. Persist `snapshot`, then `entries` (replacing any stored entry at or after the first one's index),
///    then `hardState`; fsync if `mustSync`.
/// 4. Only after that: send `messagesAfterPersist` (votes and acknowledgements promise what is on disk).
/// `readStates` may be answered once the state machine has applied their index.
public struct Ready: Sendable {
    /// Acknowledge this number; Readies are numbered, persisted and acknowledged in order.
    public let number: UInt64
    public var hardState: HardState?
    public var snapshot: Snapshot?
    /// Set with `snapshot` when the engine still relies on its stored entries after the snapshot: storage drops only
    /// the entries the snapshot covers. A Multi-Paxos acceptor never forgets a value it accepted, and the slots it
    /// writes again after a leader's snapshot may be torn off by a crash. Raft leaves it unset: its entries after a
    /// leader's snapshot may conflict with it, so its log restarts there.
    public var keepsEntriesAfterSnapshot: Bool
    public var entries: [Entry]
    public var messages: [Message]
    public var messagesAfterPersist: [Message]
    public var committedEntries: [Entry]
    public var readStates: [ReadState]
    /// Set when enough entries were applied since the last snapshot: the driver should snapshot its state
    /// machine and call `compact(through:snapshotData:)`.
    public var snapshotRequested: Bool

    /// Whether persisting this batch needs an fsync: a vote, a term or an entry must never be lost once
    /// acknowledged; a commit index alone can be recomputed.
    public var mustSync: Bool {
        snapshot != nil || !entries.isEmpty || hardState.map { $0.term != previousTerm || $0.votedFor != previousVote }
            ?? false
    }

    let previousTerm: Term
    let previousVote: NodeID?

    init(number: UInt64, previousTerm: Term, previousVote: NodeID?) {
        self.number = number
        self.previousTerm = previousTerm
        self.previousVote = previousVote
        self.hardState = nil
        self.snapshot = nil
        self.keepsEntriesAfterSnapshot = false
        self.entries = []
        self.messages = []
        self.messagesAfterPersist = []
        self.committedEntries = []
        self.readStates = []
        self.snapshotRequested = false
    }
}

/// The answer to a linearizable read: once the state machine has applied `index`, reading it is linearizable.
/// A nil `index` means the read could not be served (no leader, or leadership lost); retry.
public struct ReadState: Hashable, Sendable {
    public var requestID: UInt64
    public var index: LogIndex?

    public init(requestID: UInt64, index: LogIndex?) {
        self.requestID = requestID
        self.index = index
    }
}

/// What a proposal became: if the entry applied at `index` has this `term`, it is this proposal; if another
/// entry is applied there, the proposal was dropped.
public struct ProposalTicket: Hashable, Sendable {
    public var index: LogIndex
    public var term: Term
}

/// State recovered from storage to construct an engine after a restart.
public struct RecoveredState: Sendable {
    public var hardState: HardState
    public var snapshot: Snapshot?
    /// Entries after the snapshot, contiguous.
    public var entries: [Entry]

    public init(hardState: HardState = HardState(), snapshot: Snapshot? = nil, entries: [Entry] = []) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
    }

    public static let empty = RecoveredState()
}
