import DequeModule

/// A Raft consensus engine: a value stepped by one driver, with no I/O, clock, thread or global state.
///
/// Inputs are the mutating calls of `ConsensusEngine`; outputs accumulate until the driver takes them with
/// `ready()`. The role-specific rules live in extensions: election, replication, reads, membership.
public struct RaftNode: ConsensusEngine {
    public let id: NodeID
    let options: RaftOptions
    var random: SplitMix64

    public internal(set) var role: Role = .follower
    /// Invariant: never decreases.
    public internal(set) var term: Term
    var votedFor: NodeID?
    public internal(set) var leaderHint: NodeID?
    var log: RaftLog

    /// Configurations by the index of the entry that introduced them; the first is in force at the log's base.
    /// The newest is in force, committed or not (thesis §4.1).
    var configurations: [(index: LogIndex, configuration: Configuration)]

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0

    /// Quiescent: an idle group's leader that stopped heartbeating, or a follower that stopped counting its
    /// election timer because its leader did (see RaftNode+Quiescence).
    public internal(set) var isQuiescent = false
    /// Leader ticks in a row with nothing to do, towards quiescing.
    var idleTicks = 0
    /// Peers whose node the host found silent (node liveness): a leader quiesces without waiting for them to catch
    /// up, as long as the others make a quorum (CockroachDB quiesces past dead replicas the same way).
    var unreachablePeers: Set<NodeID> = []
    /// Ticks since this engine started, on every role: the clock leases are measured on.
    var ticks: UInt64 = 0
    /// The term this engine restarted in (0 for a new node).
    let recoveredTerm: Term
    var lease = LeaderLease()

    // Candidate state: who answered, and how.
    var votes: [NodeID: Bool] = [:]

    // Leader state.
    var progress: [NodeID: Progress] = [:]
    var leadershipTransferTarget: NodeID?
    /// Leader ticks since the transfer to `leadershipTransferTarget` began.
    var leadershipTransferElapsed = 0
    /// A leader proposes a membership change only after everything up to here is committed, which also makes
    /// it wait for an entry of its own term (the fix to single-server changes, thesis §4.1 / raft-dev 2015).
    var pendingConfigurationIndex: LogIndex = 0
    /// Proposals appended since the last `ready()`: broadcast once, so that a burst becomes one batch.
    var needsBroadcast = false
    /// The commit index advanced since the last `ready()`: followers hear of it even without new entries.
    var needsCommitBroadcast = false
    var reads = ReadIndexTracker()

    // Snapshots.
    var latestSnapshot: Snapshot?
    var snapshotRequestOutstanding = false
    var snapshotToInstall: Snapshot?

    // Outputs.
    var messages: [Message] = []
    var messagesAfterPersist: [Message] = []
    var readStates: [ReadState] = []
    var reportedHardState: HardState
    var readyCount: UInt64 = 0
    /// Readies handed out and not yet acknowledged, oldest first: storage may persist several at once.
    /// A write acknowledged after a truncation or a leader's snapshot replaced its entries marks nothing stable:
    /// `RaftLog.markStable` checks the term, and by log matching an entry with the same index and term is the same.
    var outstandingReadies: Deque<OutstandingReady> = []

    struct OutstandingReady {
        var number: UInt64
        var lastIndex: LogIndex
        var lastTerm: Term
        var snapshot: Snapshot?
    }

    /// Creates an engine from what storage recovered (`.empty` for a brand-new node).
    public init(id: NodeID, options: RaftOptions, recovered: RecoveredState = .empty) throws(OptionsError) {
        try options.validate()
        if id.rawValue == 0 { throw OptionsError("node id 0 is reserved; use ids from 1") }
        let recoveredTerm = recovered.hardState.term
        let recoveredLast = (recovered.snapshot?.lastIncludedIndex ?? 0).advanced(by: recovered.entries.count)
        if recovered.hardState.commitIndex > recoveredLast {
            throw OptionsError(
                "the recovered commit index \(recovered.hardState.commitIndex.rawValue) is beyond the last recovered entry "
                    + "\(recoveredLast.rawValue): committed entries are missing from this data; replace it with a copy "
                    + "from a healthy member")
        }
        var expected = (recovered.snapshot?.lastIncludedIndex ?? 0).advanced(by: 1)
        for entry in recovered.entries {
            guard entry.index == expected else {
                throw OptionsError(
                    "recovered entry \(entry.index) does not follow entry \(expected.advanced(by: -1)); the data is damaged")
            }
            expected = expected.advanced(by: 1)
        }
        if recoveredTerm.rawValue > UInt64.max / 2 {
            throw OptionsError(
                "the recovered term \(recoveredTerm.rawValue) is beyond any a correct cluster reaches; this data was "
                    + "written after a forged or corrupted message, and only a copy from a healthy member can replace it"
            )
        }
        self.id = id
        self.options = options
        self.random = SplitMix64(seed: options.randomSeed ^ (id.rawValue &* 0x9E37_79B9_7F4A_7C15))
        // From a generator of its own, so that the election timeouts drawn from `random` stay as they were.
        var forwardIDs = SplitMix64(seed: options.randomSeed ^ 0x5EAD_F0E0_1D5E_ED00)
        self.reads.lastForwardID = forwardIDs.next()
        let snapshot = recovered.snapshot
        self.log = RaftLog(
            baseIndex: snapshot?.lastIncludedIndex ?? 0,
            baseTerm: snapshot?.lastIncludedTerm ?? 0,
            entries: recovered.entries,
            commitIndex: recovered.hardState.commitIndex
        )
        self.term = recovered.hardState.term
        self.recoveredTerm = recovered.hardState.term
        self.votedFor = recovered.hardState.votedFor
        self.reportedHardState = recovered.hardState
        self.latestSnapshot = snapshot
        self.configurations = [(log.baseIndex, snapshot?.configuration ?? options.initialConfiguration)]
        for entry in recovered.entries {
            if case .configurationChange(let change) = entry.kind { recordConfigurationChange(change, at: entry.index) }
        }
        resetElectionTimer()
    }

    public var commitIndex: LogIndex { log.commitIndex }
    public var lastIndex: LogIndex { log.lastIndex }
    public var appliedIndex: LogIndex { log.appliedIndex }
    public var firstIndex: LogIndex { log.firstIndex }
    public func term(at index: LogIndex) -> Term? { log.term(at: index) }
    public var configuration: Configuration { configurations[configurations.count - 1].configuration }
    var isVoter: Bool { configuration.voters.contains(id) }

    /// Whether this node stands for election: as a voter, or as a voter of the committed configuration that an
    /// uncommitted one removes. Such a node may still be needed until its removal commits (thesis §4.2.2): it may
    /// hold the newest log, which no other voter can win an election against, while another voter is gone for good.
    var mayCampaign: Bool { isVoter || committedConfiguration.configuration.voters.contains(id) }

    /// On a leader, each follower's replication progress; empty elsewhere.
    public var replicationStatus: [NodeID: ReplicationStatus] { progress.mapValues(\.status) }

    // MARK: Inputs

    public mutating func tick() {
        ticks += 1
        switch role {
        case .leader: tickLeader()
        case .follower, .preCandidate, .candidate: tickElection()
        }
    }

    public mutating func step(_ message: Message) throws(StepError) {
        guard message.to == id else { throw .wrongRecipient(message.to) }
        if case .paxos = message.payload {
            throw .protocolViolation("\(message.from) sent a Multi-Paxos message to a Raft group; the cluster mixes engines")
        }
        try message.validate(recipientTerm: term)
        if isQuiescent && !isConsistentWithQuiescence(message) {
            // The leader's own messages mean it is awake already; anyone else's, that it should be.
            wakeUp(askingLeader: role != .leader && message.from != leaderHint)
        }
        guard handleTerm(of: message) else { return }
        if role == .leader && message.term == term && message.payload.isFromLeader {
            // Election safety says one leader per term: a second is a bug or a forgery, never a reason to step down.
            throw .protocolViolation("\(message.from) acts as leader of term \(term), which this node leads")
        }
        switch message.payload {
        case .appendEntries(let append): try handleAppendEntries(append, from: message.from)
        case .appendEntriesResponse(let response): try handleAppendEntriesResponse(response, from: message.from)
        case .requestVote(let request): handleVoteRequest(request, from: message.from, term: message.term)
        case .requestVoteResponse(let granted, let isPreVote):
            handleVoteResponse(granted: granted, isPreVote: isPreVote, from: message.from, term: message.term)
        case .heartbeat(let commit, let context):
            handleHeartbeat(commitIndex: commit, context: context, from: message.from)
        case .heartbeatResponse(let context): handleHeartbeatResponse(context: context, from: message.from)
        case .installSnapshot(let snapshot): handleInstallSnapshot(snapshot, from: message.from)
        case .timeoutNow: handleTimeoutNow()
        case .readIndexRequest(let requestID): handleForwardedRead(requestID: requestID, from: message.from)
        case .readIndexResponse(let requestID, let index):
            handleReadIndexResponse(requestID: requestID, index: index, from: message.from)
        case .paxos: preconditionFailure("refused above")
        }
    }

    public mutating func propose(_ command: [UInt8]) throws(ProposalError) -> ProposalTicket {
        try ensureLeaderAcceptingProposals()
        return appendAsLeader(.command(command))
    }

    public mutating func campaign() {
        guard role != .leader, isVoter else { return }
        isQuiescent = false
        startElection(preVote: options.preVote, isLeadershipTransfer: false)
    }

    mutating func ensureLeaderAcceptingProposals() throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leaderHint: leaderHint) }
        guard leadershipTransferTarget == nil else { throw .leadershipTransferInProgress }
        if isQuiescent { wakeUp(askingLeader: false) }
    }

    // MARK: Outputs

    public var hasReady: Bool {
        needsBroadcast || needsCommitBroadcast || reads.needsHeartbeat || !reads.toForward.isEmpty
            || log.hasUnpersisted
            || snapshotToInstall != nil || currentHardState != reportedHardState
            || !messages.isEmpty || !messagesAfterPersist.isEmpty || !readStates.isEmpty
            || log.applicableRange != nil || isSnapshotDue
    }

    public mutating func ready() -> Ready {
        if needsBroadcast || needsCommitBroadcast {
            broadcastAppend(sendIfEmpty: needsCommitBroadcast)
            needsBroadcast = false
            needsCommitBroadcast = false
        }
        // Before the heartbeat round: a read that found this node leading joins it.
        forwardReads()
        if reads.needsHeartbeat {
            reads.needsHeartbeat = false
            broadcastHeartbeat()
        }
        readyCount += 1
        var ready = Ready(
            number: readyCount, previousTerm: reportedHardState.term, previousVote: reportedHardState.votedFor)
        ready.snapshot = snapshotToInstall
        snapshotToInstall = nil
        ready.entries = log.takeUnpersisted()
        if currentHardState != reportedHardState {
            ready.hardState = currentHardState
            reportedHardState = currentHardState
        }
        swap(&ready.messages, &messages)
        swap(&ready.messagesAfterPersist, &messagesAfterPersist)
        swap(&ready.readStates, &readStates)
        if let range = log.applicableRange {
            ready.committedEntries = log.entries(from: range.lowerBound, through: range.upperBound)
            log.markApplied(through: range.upperBound)
        }
        if isSnapshotDue {
            ready.snapshotRequested = true
            snapshotRequestOutstanding = true
        }
        let last = ready.entries.last
        outstandingReadies.append(
            OutstandingReady(
                number: readyCount, lastIndex: last?.index ?? 0, lastTerm: last?.term ?? 0, snapshot: ready.snapshot))
        return ready
    }

    public mutating func acknowledge(readyNumber: UInt64) {
        guard let outstanding = outstandingReadies.popFirst() else { preconditionFailure("no Ready outstanding") }
        precondition(outstanding.number == readyNumber, "acknowledged \(readyNumber), expected \(outstanding.number)")
        if let snapshot = outstanding.snapshot { log.markSnapshotStable(snapshot) }
        if outstanding.lastIndex > 0 { log.markStable(through: outstanding.lastIndex, term: outstanding.lastTerm) }
        if role == .leader { maybeCommit() }
    }

    public mutating func compact(through index: LogIndex, snapshotData: [UInt8]) -> Snapshot {
        precondition(index <= log.appliedIndex, "snapshot at \(index) beyond applied \(log.appliedIndex)")
        precondition(index >= log.baseIndex, "snapshot at \(index) older than the log's base \(log.baseIndex)")
        let snapshot = Snapshot(
            lastIncludedIndex: index,
            lastIncludedTerm: log.term(at: index)!,
            configuration: configuration(at: index),
            data: snapshotData
        )
        latestSnapshot = snapshot
        snapshotRequestOutstanding = false
        let retained = options.entriesRetainedAfterSnapshot
        let newBase = index.rawValue > UInt64(retained) ? index.advanced(by: -retained) : 0
        if newBase > log.baseIndex {
            log.compact(through: newBase)
            forgetConfigurations(before: newBase)
        }
        return snapshot
    }

    var currentHardState: HardState { HardState(term: term, votedFor: votedFor, commitIndex: log.commitIndex) }

    var isSnapshotDue: Bool {
        guard !snapshotRequestOutstanding else { return false }
        let snapshotIndex = latestSnapshot?.lastIncludedIndex ?? 0
        return snapshotIndex.distance(to: log.appliedIndex) >= options.snapshotIntervalEntries
    }

    /// Queues a message. Anything that promises what is on disk (a vote, an acknowledgement) waits for the
    /// persistence of this Ready (thesis §3.8); a leader's appends and pre-votes go at once.
    mutating func send(_ payload: Message.Payload, to peer: NodeID, term messageTerm: Term? = nil) {
        precondition(peer != id, "a node never messages itself")
        let message = Message(from: id, to: peer, term: messageTerm ?? term, payload: payload)
        if options.injectedBug == .acknowledgeBeforePersist {
            messages.append(message)
            return
        }
        switch payload {
        case .appendEntriesResponse, .heartbeatResponse, .requestVoteResponse(_, isPreVote: false):
            messagesAfterPersist.append(message)
        case .requestVote(let request) where !request.isPreVote:
            messagesAfterPersist.append(message)
        default:
            messages.append(message)
        }
    }

    mutating func resetElectionTimer() {
        electionElapsed = 0
        let timeout = options.electionTimeoutTicks
        randomizedElectionTimeout = timeout + Int(random.next(upperBound: UInt64(timeout)))
    }

    public func checkInvariants() {
        log.checkInvariants()
        precondition(configurations.first!.index <= log.baseIndex, "configuration history lost its base")
        for (earlier, later) in zip(configurations, configurations.dropFirst()) {
            precondition(earlier.index < later.index, "configuration history out of order")
        }
        switch role {
        case .leader:
            precondition(leaderHint == id, "a leader names itself as leader")
            precondition(votedFor == id, "a leader voted for itself in its term")
            for (peer, peerProgress) in progress {
                precondition(peer != id, "a leader tracks no progress for itself")
                precondition(
                    peerProgress.matchIndex < peerProgress.nextIndex, "match \(peerProgress.matchIndex) not before next"
                )
                precondition(peerProgress.matchIndex <= log.lastIndex, "\(peer) matches beyond the leader's log")
            }
        case .candidate:
            precondition(votedFor == id, "a candidate votes for itself")
            precondition(progress.isEmpty, "only a leader tracks progress")
        case .follower, .preCandidate:
            precondition(progress.isEmpty, "only a leader tracks progress")
        }
        if isQuiescent {
            precondition(role == .leader || role == .follower, "only leaders and followers quiesce")
            precondition(leaderHint != nil, "a quiescent node knows its leader")
            precondition(log.commitIndex == log.lastIndex, "a quiescent node holds nothing uncommitted")
        }
    }
}

extension Message {
    /// Rejects what no correct peer sends, before any of it reaches an invariant or arithmetic.
    func validate(recipientTerm: Term) throws(StepError) {
        if from.rawValue == 0 { throw .malformed("sender id 0") }
        if from == to { throw .malformed("message from \(from) to itself") }
        if term > Term.ceiling && term != recipientTerm && term != recipientTerm.next {
            throw .malformed("term \(term) beyond \(Term.ceiling), and not one past this node's \(recipientTerm)")
        }
        for (field, index) in indexFields where index > LogIndex.ceiling {
            throw .malformed("\(field) \(index) beyond \(LogIndex.ceiling)")
        }
        for (field, fieldTerm) in termFields where fieldTerm > term {
            throw .malformed("\(field) \(fieldTerm) newer than the message's term \(term)")
        }
        switch payload {
        case .appendEntries(let append):
            var expected = append.previousIndex.advanced(by: 1)
            var previousTerm = append.previousTerm
            for entry in append.entries {
                if entry.index != expected { throw .malformed("entries not contiguous at \(entry.index)") }
                if entry.term < previousTerm || entry.term > term {
                    throw .malformed("entry \(entry.index) has term \(entry.term) out of order")
                }
                expected = expected.advanced(by: 1)
                previousTerm = entry.term
            }
        default:
            break
        }
    }

    /// The log indexes a message carries, by name.
    private var indexFields: [(String, LogIndex)] {
        switch payload {
        case .appendEntries(let append):
            [("previous index", append.previousIndex), ("leader commit", append.leaderCommit)]
        case .appendEntriesResponse(.accepted(let match)): [("match index", match)]
        case .appendEntriesResponse(.rejected(let rejected, let hint, _)):
            [("rejected index", rejected), ("hint index", hint)]
        case .requestVote(let request): [("last log index", request.lastLogIndex)]
        case .heartbeat(let commit, _): [("commit index", commit)]
        case .installSnapshot(let snapshot): [("snapshot index", snapshot.lastIncludedIndex)]
        case .readIndexResponse(_, let index?): [("read index", index)]
        case .requestVoteResponse, .heartbeatResponse, .timeoutNow, .readIndexRequest, .readIndexResponse(_, nil), .paxos:
            []
        }
    }

    /// The terms of log entries a message carries: no peer holds an entry from a term newer than its own.
    private var termFields: [(String, Term)] {
        switch payload {
        case .appendEntries(let append): [("previous term", append.previousTerm)]
        case .appendEntriesResponse(.rejected(_, _, let hintTerm)): [("hint term", hintTerm)]
        case .requestVote(let request): [("last log term", request.lastLogTerm)]
        case .installSnapshot(let snapshot): [("snapshot term", snapshot.lastIncludedTerm)]
        default: []
        }
    }
}
