import DequeModule

/// A Multi-Paxos consensus engine: a value stepped by one driver, with no I/O, clock, thread or global state, behind
/// the same `ConsensusEngine` interface and `Ready` contract as `RaftNode`.
///
/// A stable distinguished proposer (the leader) runs phase 1 once for every open slot when it takes over, then phase
/// 2 per slot, pipelined and batched. Every node is an acceptor; every node learns chosen slots from the commit
/// notices the leader piggybacks on its accepts and heartbeats. Shared vocabulary: a slot is a `LogIndex`; a ballot's
/// round is the `term` (see `Ballot`); an `Entry`'s term is the round its value was first proposed in, kept when a
/// later leader re-proposes it, so that a `ProposalTicket` (slot, round) still names the proposal.
///
/// Membership changes are values chosen in slots, each governing the slots α after its own
/// (`ConfigurationHistory`, `MultiPaxosNode+Membership.swift`). Not built yet: quiescence.
public struct MultiPaxosNode: ConsensusEngine {
    public let id: NodeID
    let options: PaxosOptions
    var random: SplitMix64

    public internal(set) var role: Role = .follower
    /// The ballot this acceptor promised; durable (as `HardState(term: round, votedFor: node)`). Never decreases.
    public internal(set) var promised: Ballot
    public internal(set) var leaderHint: NodeID?
    var log: AcceptorLog
    /// The configuration of every slot, from the values this node holds: chosen ones, accepted ones after them, and a
    /// leader's values waiting for its window.
    var configurations: ConfigurationHistory
    /// The highest round this node has heard of; a new campaign goes above it.
    var highestRoundSeen: Term
    /// The round of the newest ballot this node followed or led (0 after a restart): unlike `term`, not raised by
    /// campaigns nobody answered.
    public internal(set) var leadershipRound: Term = 0

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    /// Takeovers in a row that timed out before a quorum promised: each doubles the next timeout (up to 8 times the
    /// election timeout), so that a proposer whose timeout is shorter than a round of durable promises (a fast clock,
    /// a slow disk) stops outranking, forever, the others' attempts it cannot finish itself.
    var failedTakeovers = 0

    // Candidate state.
    var takeover: Takeover?

    // Leader state.
    var peers: [NodeID: PeerProgress] = [:]
    /// The last slot that was open when this leader took over: reads wait until it is chosen, since before then the
    /// commit index may lag behind slots chosen by earlier leaders.
    var takeoverIndex: LogIndex = 0
    /// A leader's proposals for slots at or past (first unchosen slot) + α: their slots are assigned (a ticket names
    /// them), and they are accepted and sent as the window moves on. Dropped if leadership is lost.
    var waitingForWindow: Deque<Entry> = []
    var transferTarget: NodeID?
    var transferElapsed = 0
    var needsBroadcast = false
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
    var outstandingReadies: Deque<UInt64> = []

    /// Creates an engine from what storage recovered (`.empty` for a brand-new node).
    public init(id: NodeID, options: PaxosOptions, recovered: RecoveredState = .empty) throws(OptionsError) {
        try options.validate()
        if id.rawValue == 0 { throw OptionsError("node id 0 is reserved; use ids from 1") }
        let hardState = recovered.hardState
        if hardState.term.rawValue > UInt64.max / 2 {
            throw OptionsError(
                "the recovered round \(hardState.term.rawValue) is beyond any a correct cluster reaches; only a copy "
                    + "from a healthy member can replace this data")
        }
        if (hardState.term == 0) != (hardState.votedFor == nil) {
            throw OptionsError("the recovered promise names a round without its owner; this data was not written by Multi-Paxos")
        }
        self.id = id
        self.options = options
        self.random = SplitMix64(seed: options.randomSeed ^ (id.rawValue &* 0x9E37_79B9_7F4A_7C15))
        var forwardIDs = SplitMix64(seed: options.randomSeed ^ 0x5EAD_F0E0_1D5E_ED00)
        self.reads.lastForwardID = forwardIDs.next()
        self.promised = Ballot(round: hardState.term, node: hardState.votedFor ?? NodeID(0))
        self.highestRoundSeen = hardState.term
        self.log = try AcceptorLog(
            recovered: recovered.entries, snapshot: recovered.snapshot, commitIndex: hardState.commitIndex,
            promisedRound: hardState.term)
        self.latestSnapshot = recovered.snapshot
        self.configurations = ConfigurationHistory(
            base: recovered.snapshot?.configuration ?? options.initialConfiguration,
            changeSlot: recovered.snapshot?.lastIncludedIndex ?? .zero,
            delay: options.injectedBug == .configurationInForceAtOnce ? 1 : options.configurationDelaySlots)
        self.reportedHardState = hardState
        // A change still in flight when the node stopped comes back from its slot, chosen or only accepted.
        rebuildConfigurations(from: log.firstIndex)
        resetElectionTimer()
    }

    /// The round this node promised: the `term` of the shared vocabulary.
    public var term: Term { promised.round }
    public var commitIndex: LogIndex { log.commitIndex }
    public var lastIndex: LogIndex { log.lastIndex }
    public var firstIndex: LogIndex { log.firstIndex }
    public var appliedIndex: LogIndex { log.appliedIndex }
    /// The round this acceptor accepted the slot's value in (a local fact), or nil if compacted away or beyond the end.
    public func term(at index: LogIndex) -> Term? { log.round(at: index) }
    /// The value this node holds at `slot`, chosen or merely accepted; nil for a gap, a compacted slot or beyond the
    /// end.
    public func value(at slot: LogIndex) -> Entry? { log.record(at: slot)?.value }
    /// The newest configuration in the log, chosen or not (a leader's waiting values included): what the next change
    /// is checked against.
    public var configuration: Configuration { configurations.newest.configuration }
    /// The configuration of the first unchosen slot, and the slot of the change that produced it: chosen, with every
    /// slot under the configuration before it chosen too, so no leader can roll it back and no open slot still
    /// depends on the one before.
    public var committedConfiguration: (index: LogIndex, configuration: Configuration) {
        let epoch = configurations.epoch(at: log.commitIndex.advanced(by: 1))
        return (epoch.changeSlot, epoch.configuration)
    }
    /// The configuration governing `slot`.
    package func configuration(at slot: LogIndex) -> Configuration { configurations.configuration(at: slot) }
    /// A leader's view of how far each acceptor has accepted its slots; empty on other nodes.
    public var replicationStatus: [NodeID: ReplicationStatus] {
        guard role == .leader else { return [:] }
        return peers.mapValues { progress in
            ReplicationStatus(
                matchIndex: progress.matchIndex, nextIndex: progress.nextIndex,
                state: progress.isProbing ? "probe" : "replicate", inflightAppends: progress.inflightSlots)
        }
    }
    /// A voter of the newest configuration: it may propose what goes into later slots.
    var isVoter: Bool { configuration.voters.contains(id) }
    /// A voter of the newest configuration, or of the first unchosen slot's: a node whose removal is chosen but not
    /// known here to be in force still votes in open slots, so it may still run phase 1 for them (and, in the server,
    /// its prepare is how the leader gets to tell it that it was removed).
    var mayCampaign: Bool {
        isVoter || configurations.configuration(at: log.commitIndex.advanced(by: 1)).voters.contains(id)
    }
    /// This node's own ballot while it campaigns or leads.
    var ownBallot: Ballot? { takeover?.ballot ?? (role == .leader ? promised : nil) }
    public var isQuiescent: Bool { false }
    public mutating func wake() {}
    public mutating func reportUnreachable(_ peers: Set<NodeID>) {}

    // MARK: Inputs

    public mutating func tick() {
        switch role {
        case .leader: tickLeader()
        case .follower, .preCandidate, .candidate: tickElection()
        }
    }

    public mutating func step(_ message: Message) throws(StepError) {
        guard message.to == id else { throw .wrongRecipient(message.to) }
        guard case .paxos(let payload) = message.payload else {
            throw .protocolViolation("\(message.from) sent a Raft message to a Multi-Paxos group; the cluster mixes engines")
        }
        try validate(message, payload)
        if message.term > highestRoundSeen { highestRoundSeen = message.term }
        let ballotOfSender = Ballot(round: message.term, node: message.from)
        switch payload {
        case .prepare(let firstSlot, let isTransfer):
            handlePrepare(ballot: ballotOfSender, firstSlot: firstSlot, isTransfer: isTransfer)
        case .promise(let promise): try handlePromise(promise, from: message.from, round: message.term)
        case .accept(let accept): try handleAccept(accept, ballot: ballotOfSender)
        case .accepted(let accepted): try handleAccepted(accepted, from: message.from, round: message.term)
        case .reject(let rejection): handleRejection(rejection, from: message.from, round: message.term)
        case .snapshot(let snapshot): try handleSnapshot(snapshot, ballot: ballotOfSender)
        case .timeoutNow: handleTimeoutNow(from: message.from, round: message.term)
        case .readIndexRequest(let requestID): handleForwardedRead(requestID: requestID, from: message.from)
        case .readIndexResponse(let requestID, let index):
            handleReadIndexResponse(requestID: requestID, index: index, from: message.from)
        }
    }

    public mutating func propose(_ command: [UInt8]) throws(ProposalError) -> ProposalTicket {
        try ensureLeaderAcceptingProposals()
        return proposeAsLeader(.command(command))
    }

    public mutating func campaign() {
        guard role != .leader, mayCampaign else { return }
        startTakeover(isTransfer: false)
    }

    mutating func ensureLeaderAcceptingProposals() throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leaderHint: leaderHint) }
        // A leader that proposed its own removal hands over once it is in force; later slots are not its to lead.
        guard transferTarget == nil, isVoter else { throw .leadershipTransferInProgress }
    }

    // MARK: Outputs

    public var hasReady: Bool {
        needsBroadcast || needsCommitBroadcast || reads.needsHeartbeat || !reads.toForward.isEmpty
            || log.hasUnpersisted || snapshotToInstall != nil || currentHardState != reportedHardState
            || !messages.isEmpty || !messagesAfterPersist.isEmpty || !readStates.isEmpty
            || log.applicableRange != nil || isSnapshotDue
    }

    public mutating func ready() -> Ready {
        if needsBroadcast || needsCommitBroadcast {
            broadcastAccepts(sendIfEmpty: needsCommitBroadcast)
            needsBroadcast = false
            needsCommitBroadcast = false
        }
        forwardReads()
        if reads.needsHeartbeat {
            reads.needsHeartbeat = false
            broadcastHeartbeat()
        }
        readyCount += 1
        var ready = Ready(
            number: readyCount, previousTerm: reportedHardState.term, previousVote: reportedHardState.votedFor)
        ready.snapshot = snapshotToInstall
        ready.keepsEntriesAfterSnapshot = snapshotToInstall != nil
        snapshotToInstall = nil
        ready.entries = log.take(readyNumber: readyCount)
        if currentHardState != reportedHardState {
            ready.hardState = currentHardState
            reportedHardState = currentHardState
        }
        swap(&ready.messages, &messages)
        swap(&ready.messagesAfterPersist, &messagesAfterPersist)
        swap(&ready.readStates, &readStates)
        if let range = log.applicableRange {
            ready.committedEntries = log.values(from: range.lowerBound, through: range.upperBound)
            log.markApplied(through: range.upperBound)
        }
        if isSnapshotDue {
            ready.snapshotRequested = true
            snapshotRequestOutstanding = true
        }
        outstandingReadies.append(readyCount)
        return ready
    }

    public mutating func acknowledge(readyNumber: UInt64) {
        guard let outstanding = outstandingReadies.popFirst() else { preconditionFailure("no Ready outstanding") }
        precondition(outstanding == readyNumber, "acknowledged \(readyNumber), expected \(outstanding)")
        log.acknowledge(readyNumber: readyNumber)
        if role == .leader { maybeCommit() }
    }

    public mutating func compact(through index: LogIndex, snapshotData: [UInt8]) -> Snapshot {
        precondition(index <= log.appliedIndex, "snapshot at \(index) beyond applied \(log.appliedIndex)")
        precondition(index >= log.baseIndex, "snapshot at \(index) older than the log's base \(log.baseIndex)")
        precondition(configurations.isSettled(through: index), "snapshot at \(index) inside a change's α-window")
        // Every change through `index` governs every later slot (snapshots wait for that), so one configuration
        // describes them all.
        let snapshot = Snapshot(
            lastIncludedIndex: index, lastIncludedTerm: log.round(at: index)!,
            configuration: configurations.configuration(at: index.advanced(by: 1)), data: snapshotData)
        latestSnapshot = snapshot
        snapshotRequestOutstanding = false
        let retained = options.entriesRetainedAfterSnapshot
        let newBase = index.rawValue > UInt64(retained) ? index.advanced(by: -retained) : 0
        if newBase > log.baseIndex { log.compact(through: newBase) }
        configurations.forgetEpochs(before: log.baseIndex)
        return snapshot
    }

    /// The promise is the hard state's (term, votedFor); the commit index rides along, as in Raft.
    var currentHardState: HardState {
        HardState(
            term: promised.round, votedFor: promised.round == 0 ? nil : promised.node, commitIndex: log.commitIndex)
    }

    var isSnapshotDue: Bool {
        guard !snapshotRequestOutstanding else { return false }
        let snapshotIndex = latestSnapshot?.lastIncludedIndex ?? 0
        return snapshotIndex.distance(to: log.appliedIndex) >= options.snapshotIntervalEntries
            && configurations.isSettled(through: log.appliedIndex)
    }

    /// Queues a message. What an acceptor says rests on its promise and accepted slots, so it waits for the
    /// persistence of this Ready; a prepare waits too, so that the candidate's promise to itself is durable before
    /// it counts. A leader's accepts, heartbeats and snapshots go at once: it counts itself towards a quorum only
    /// for slots durable here.
    mutating func send(_ payload: PaxosMessage, to peer: NodeID, round: Term) {
        precondition(peer != id, "a node never messages itself")
        let message = Message(from: id, to: peer, term: round, payload: .paxos(payload))
        switch payload {
        case .promise where options.injectedBug == .promiseBeforePersist:
            messages.append(message)
        case .prepare, .promise, .accepted, .reject:
            messagesAfterPersist.append(message)
        case .accept, .snapshot, .timeoutNow, .readIndexRequest, .readIndexResponse:
            messages.append(message)
        }
    }

    mutating func resetElectionTimer() {
        electionElapsed = 0
        let timeout = options.electionTimeoutTicks << min(failedTakeovers, 3)
        randomizedElectionTimeout = timeout + Int(random.next(upperBound: UInt64(timeout)))
    }

    public func checkInvariants() {
        log.checkInvariants()
        precondition(promised.round <= highestRoundSeen, "promised a round above every round seen")
        switch role {
        case .leader:
            precondition(leaderHint == id, "a leader names itself as leader")
            precondition(promised.node == id, "a leader promised its own ballot")
            precondition(takeover == nil, "a leader is done with phase 1")
            var slot = log.commitIndex.advanced(by: 1)
            while slot <= log.lastIndex {
                precondition(log.record(at: slot)!.round == promised.round, "leader slot \(slot) not in its round")
                slot = slot.advanced(by: 1)
            }
            var expected = log.lastIndex
            for value in waitingForWindow {
                expected = expected.advanced(by: 1)
                precondition(value.index == expected && value.term == promised.round, "waiting value \(value) out of place")
            }
            precondition(
                log.lastIndex <= max(takeoverIndex, log.commitIndex.advanced(by: options.configurationDelaySlots - 1)),
                "leader opened slot \(log.lastIndex), beyond its window from \(log.commitIndex)")
            for (peer, progress) in peers {
                precondition(peer != id, "a leader tracks no progress for itself")
                precondition(progress.matchIndex <= log.lastIndex, "\(peer) matches beyond the leader's last slot")
                precondition(progress.matchIndex < progress.nextIndex, "\(peer): match not before next")
            }
        case .candidate:
            precondition(takeover?.ballot == promised, "a candidate promised its own ballot")
            precondition(peers.isEmpty && waitingForWindow.isEmpty, "only a leader tracks progress")
        case .follower, .preCandidate:
            precondition(takeover == nil && peers.isEmpty && waitingForWindow.isEmpty, "a follower runs no phase")
        }
    }
}
