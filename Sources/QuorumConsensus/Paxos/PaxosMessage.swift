/// Multi-Paxos messages. They travel inside `Message` as `.paxos(_)`: the message's `term` is the round of the ballot
/// concerned, and its sender or recipient the ballot's owner, as each case says. Remote input: `MultiPaxosNode.step`
/// validates every field before using any.
public enum PaxosMessage: Hashable, Sendable {
    /// Phase 1a, once for every slot from `firstSlot` on, in the ballot (message term, sender). `isTransfer` is set
    /// when the current leader asked the sender to take over: acceptors then ignore their leader lease.
    case prepare(firstSlot: LogIndex, isTransfer: Bool)
    /// Phase 1b: the sender promises the ballot (message term, recipient).
    case promise(PaxosPromise)
    /// Phase 2a, pipelined and batched: accept these consecutive slots in the ballot (message term, sender). Carries
    /// the commit notice (every slot through `commitIndex` is chosen) and the newest read round; with no entries it is
    /// a heartbeat.
    case accept(PaxosAccept)
    /// Phase 2b: the sender accepted, in the ballot (message term, recipient), every slot through `acceptedThrough`.
    case accepted(PaxosAccepted)
    /// The sender refuses a ballot of the recipient's: it promised a newer one, or it compacted slots the recipient
    /// has not learned yet and so cannot report them in a promise.
    case reject(PaxosRejection)
    /// The leader of the ballot (message term, sender) sends its snapshot to an acceptor that lags behind its log.
    case snapshot(Snapshot)
    /// The leader asks the recipient to take over now (leadership transfer).
    case timeoutNow
    /// A replica forwards linearizable reads to the leader it follows, under one id.
    case readIndexRequest(requestID: UInt64)
    /// The leader's answer: the slot to wait for, or nil if it cannot serve the reads now.
    case readIndexResponse(requestID: UInt64, index: LogIndex?)
}

/// A value an acceptor accepted for one slot, and the round of the ballot it accepted it in. The value's own
/// `term` is the round it was first proposed in, kept when later leaders re-propose it, so that a proposal's
/// (slot, term) ticket identifies it across leaders.
public struct AcceptedValue: Hashable, Sendable {
    public var round: Term
    public var value: Entry

    public init(round: Term, value: Entry) {
        self.round = round
        self.value = value
    }
}

public struct PaxosPromise: Hashable, Sendable {
    /// Every slot through here is chosen at the sender, which holds its chosen value.
    public var commitIndex: LogIndex
    /// The sender's accepted values at or after the prepare's first slot, in increasing slot order.
    public var accepted: [AcceptedValue]

    public init(commitIndex: LogIndex, accepted: [AcceptedValue]) {
        self.commitIndex = commitIndex
        self.accepted = accepted
    }
}

public struct PaxosAccept: Hashable, Sendable {
    /// Values for consecutive slots, possibly none.
    public var entries: [Entry]
    /// The commit notice: every slot through here is chosen.
    public var commitIndex: LogIndex
    /// The newest heartbeat round the leader started; echoed so that the answer confirms reads.
    public var readContext: UInt64

    public init(entries: [Entry], commitIndex: LogIndex, readContext: UInt64) {
        self.entries = entries
        self.commitIndex = commitIndex
        self.readContext = readContext
    }
}

public struct PaxosAccepted: Hashable, Sendable {
    /// Every slot through here is chosen at the sender or accepted by it in the ballot answered.
    public var acceptedThrough: LogIndex
    /// The last slot of the accept answered (0 for a heartbeat): if it lies beyond `acceptedThrough`, the sender
    /// lacks slots in between and the leader sends them again.
    public var requestLast: LogIndex
    public var readContext: UInt64

    public init(acceptedThrough: LogIndex, requestLast: LogIndex, readContext: UInt64) {
        self.acceptedThrough = acceptedThrough
        self.requestLast = requestLast
        self.readContext = readContext
    }
}

public struct PaxosRejection: Hashable, Sendable {
    /// The refused ballot's round; its owner is the recipient.
    public var refusedRound: Term
    /// The sender's promise; its round is the message's term.
    public var promisedNode: NodeID
    /// Nonzero when the refusal is because the sender compacted slots through here that the recipient's prepare
    /// asked about; zero when it promised a newer ballot.
    public var compactedThrough: LogIndex

    public init(refusedRound: Term, promisedNode: NodeID, compactedThrough: LogIndex) {
        self.refusedRound = refusedRound
        self.promisedNode = promisedNode
        self.compactedThrough = compactedThrough
    }
}
