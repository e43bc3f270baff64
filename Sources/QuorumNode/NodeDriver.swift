import DequeModule
import QuorumConsensus

/// The one loop that turns an engine's `Ready` into effects: send → apply → persist → send what waited for
/// persistence → answer clients. The server runs it on an event loop with real I/O; the simulator runs the
/// very same code with simulated I/O.
///
/// Writes are pipelined: the driver hands each Ready to storage as soon as it is taken, while earlier ones are still
/// being persisted, so that entries proposed during an fsync reach the followers at once instead of after it.
/// Storage completes them in order.
///
/// With `Processing.whenAsked`, inputs (proposals, reads, messages, ticks) only step the engine, and `process()`
/// turns everything they produced into one Ready: a host that calls it once per event-loop turn gets one write, one
/// frame per peer and one heartbeat round for all the turn's reads.
///
/// Not thread-safe: one executor owns a driver and makes every call on it.
public struct NodeDriver<
    Engine: ConsensusEngine, Storage: NodeStorage, Transport: MessageTransport,
    Machine: ReplicatedStateMachine
> {
    public private(set) var engine: Engine
    public private(set) var stateMachine: Machine
    public let storage: Storage
    public let transport: Transport

    /// Readies taken and not yet acknowledged, oldest first: those handed to storage, and those with nothing to
    /// write that wait behind them. Each keeps the messages that must wait for its persistence.
    private var persisting: Deque<(number: UInt64, isWritten: Bool, messagesAfterPersist: [Message])> = []
    private let processing: Processing
    /// Whether an input stepped the engine since the last `process()`.
    public private(set) var needsProcessing = false

    public enum Processing: Sendable {
        /// Every input is processed at once: one Ready per input.
        case afterEachInput
        /// Inputs accumulate until the host calls `process()`.
        case whenAsked
    }
    /// The newest entry applied to `stateMachine`.
    public private(set) var appliedIndex: LogIndex = 0
    /// Proposals by log index, resolved when that index is applied.
    private var proposals: [LogIndex: (term: Term, token: UInt64)] = [:]
    private var readRequests: [UInt64: UInt64] = [:]
    private var readsAwaitingApply: Deque<(index: LogIndex, token: UInt64)> = []
    private var nextReadID: UInt64 = 0
    /// Whether `process()` serialises snapshots itself, or leaves them in `snapshotJob` for the host to serialise
    /// elsewhere (a server's event loop must not stall for it) and hand back with `snapshotSerialized`.
    private let serializesSnapshotsInline: Bool
    /// A snapshot captured and waiting to be serialised by the host; at most one at a time.
    private var snapshotJob: SnapshotJob?
    private var snapshotJobTaken = false
    /// The engine asked for a snapshot while the previous one was still being serialised: it is taken once that one
    /// is back. Ignoring the request instead stalled compaction for good when the previous one came back overtaken
    /// by a leader's snapshot, since the engine waits for its request to be answered.
    private var snapshotRequestedMeanwhile = false

    /// The state as of `index`, to be turned into bytes with `Machine.serialize`.
    public struct SnapshotJob: Sendable {
        public let index: LogIndex
        public let image: Machine.SnapshotImage
    }

    /// Outcomes for the host, in order; take them with `takeCompletions()`.
    private var completions: [Completion] = []

    public enum Completion: Sendable {
        /// The proposal committed and was applied; `output` is nil for entries that are not commands.
        case committed(token: UInt64, index: LogIndex, output: Machine.Output?)
        /// Another entry took the proposal's place: it did not commit and never will.
        case dropped(token: UInt64)
        /// The outcome cannot be known here (the node installed a snapshot past it).
        case unknown(token: UInt64)
        /// The state machine now reflects a linearizable point for this read: read it now.
        case readable(token: UInt64)
        /// The read could not be confirmed (leadership changed); retry.
        case readFailed(token: UInt64)
    }

    /// - Parameter recoveredSnapshot: the snapshot storage recovered, restored into `stateMachine` here so that
    ///   the engine's committed entries continue exactly where it ends.
    /// - Parameter serializesSnapshotsInline: false to serialise snapshots off the driver's executor: take each
    ///   with `takeSnapshotJob()` and return its bytes with `snapshotSerialized(through:data:)`.
    public init(
        engine: Engine, stateMachine: Machine, storage: Storage, transport: Transport, recoveredSnapshot: Snapshot?,
        serializesSnapshotsInline: Bool = true, processing: Processing = .afterEachInput
    ) {
        self.serializesSnapshotsInline = serializesSnapshotsInline
        self.processing = processing
        self.engine = engine
        self.stateMachine = stateMachine
        self.storage = storage
        self.transport = transport
        if let snapshot = recoveredSnapshot {
            self.stateMachine.restore(from: snapshot.data)
            self.appliedIndex = snapshot.lastIncludedIndex
        }
        stepped()
    }

    public var isPersisting: Bool { persisting.contains(where: \.isWritten) }

    public mutating func tick() {
        engine.tick()
        stepped()
    }

    /// Feeds a peer's message. A refused message is returned for the host to log; nothing else changes.
    @discardableResult
    public mutating func receive(_ message: Message) -> StepError? {
        do throws(StepError) {
            try engine.step(message)
        } catch {
            return error
        }
        stepped()
        return nil
    }

    public mutating func propose(_ command: [UInt8], token: UInt64) throws(ProposalError) {
        let ticket = try engine.propose(command)
        proposals[ticket.index] = (ticket.term, token)
        stepped()
    }

    public mutating func proposeConfigurationChange(_ change: ConfigurationChange, token: UInt64) throws(ProposalError)
    {
        let ticket = try engine.proposeConfigurationChange(change)
        proposals[ticket.index] = (ticket.term, token)
        stepped()
    }

    /// Starts a linearizable read; `.readable(token)` says when the state machine may be read.
    public mutating func read(token: UInt64) throws(ProposalError) {
        nextReadID += 1
        try engine.readIndex(requestID: nextReadID)
        readRequests[nextReadID] = token
        stepped()
    }

    public mutating func transferLeadership(to target: NodeID) throws(ProposalError) {
        try engine.transferLeadership(to: target)
        stepped()
    }

    public mutating func campaign() {
        engine.campaign()
        stepped()
    }

    /// The host's node liveness says this group's leader's node is gone (or restarted): a quiescent follower
    /// counts its election timer again. See `ConsensusEngine.wake()`.
    public mutating func wake() {
        engine.wake()
        stepped()
    }

    /// The host's node liveness: the peers whose node is silent now. See `ConsensusEngine.reportUnreachable(_:)`.
    public mutating func reportUnreachable(_ peers: Set<NodeID>) {
        engine.reportUnreachable(peers)
    }

    /// Storage made the batch of Ready `readyNumber` durable, and with it every earlier one (storage writes in order).
    public mutating func persisted(readyNumber: UInt64) {
        guard persisting.contains(where: { $0.isWritten && $0.number == readyNumber }) else {
            preconditionFailure("storage completed Ready \(readyNumber), which it was not writing")
        }
        while let oldest = persisting.first, oldest.number <= readyNumber || !oldest.isWritten {
            persisting.removeFirst()
            engine.acknowledge(readyNumber: oldest.number)
            if !oldest.messagesAfterPersist.isEmpty { transport.send(oldest.messagesAfterPersist) }
        }
        stepped()
    }

    /// The snapshot to serialise, once; nil if none is due or it was already taken.
    public mutating func takeSnapshotJob() -> SnapshotJob? {
        guard let job = snapshotJob, !snapshotJobTaken else { return nil }
        snapshotJobTaken = true
        return job
    }

    /// The bytes of the snapshot through `index`: the engine drops the log before it and storage keeps it. A
    /// snapshot overtaken by a newer one from the leader meanwhile is dropped.
    public mutating func snapshotSerialized(through index: LogIndex, data: [UInt8]) {
        snapshotJob = nil
        snapshotJobTaken = false
        if index.advanced(by: 1) >= engine.firstIndex {
            storage.saveSnapshot(engine.compact(through: index, snapshotData: data))
        }
        if snapshotRequestedMeanwhile {
            snapshotRequestedMeanwhile = false
            takeSnapshot()
        }
    }

    /// Captures the state machine for a snapshot: serialised here, or left for the host (`takeSnapshotJob`).
    private mutating func takeSnapshot() {
        guard snapshotJob == nil else {
            snapshotRequestedMeanwhile = true
            return
        }
        let job = SnapshotJob(index: appliedIndex, image: stateMachine.snapshotImage())
        if serializesSnapshotsInline {
            snapshotSerialized(through: job.index, data: Machine.serialize(job.image))
        } else {
            snapshotJob = job
        }
    }

    public mutating func takeCompletions() -> [Completion] {
        defer { completions.removeAll(keepingCapacity: true) }
        return completions
    }

    private mutating func stepped() {
        needsProcessing = true
        if processing == .afterEachInput { process() }
    }

    /// Turns what the inputs since the last call produced into effects: sends, applies, and hands a write to storage.
    public mutating func process() {
        needsProcessing = false
        while engine.hasReady {
            let ready = engine.ready()
            if !ready.messages.isEmpty { transport.send(ready.messages) }
            if let snapshot = ready.snapshot { install(snapshot) }
            for entry in ready.committedEntries { apply(entry) }
            for readState in ready.readStates { resolve(readState) }
            releaseReads()
            if ready.snapshotRequested { takeSnapshot() }
            let batch = PersistBatch(
                readyNumber: ready.number, snapshot: ready.snapshot, entries: ready.entries,
                hardState: ready.hardState, mustSync: ready.mustSync,
                keepsEntriesAfterSnapshot: ready.keepsEntriesAfterSnapshot)
            if !batch.isEmpty {
                persisting.append((ready.number, true, ready.messagesAfterPersist))
                storage.persist(batch)
            } else if !persisting.isEmpty {
                // Promises nothing new, but its messages may rest on an earlier Ready still being written.
                persisting.append((ready.number, false, ready.messagesAfterPersist))
            } else {
                engine.acknowledge(readyNumber: ready.number)
                if !ready.messagesAfterPersist.isEmpty { transport.send(ready.messagesAfterPersist) }
            }
        }
    }

    private mutating func install(_ snapshot: Snapshot) {
        stateMachine.restore(from: snapshot.data)
        appliedIndex = snapshot.lastIncludedIndex
        // Proposals inside the snapshot may or may not be what committed there; nobody here can tell.
        for index in proposals.keys.sorted() where index <= snapshot.lastIncludedIndex {
            completions.append(.unknown(token: proposals.removeValue(forKey: index)!.token))
        }
    }

    private mutating func apply(_ entry: Entry) {
        let output = stateMachine.apply(entry)
        appliedIndex = entry.index
        guard let proposal = proposals.removeValue(forKey: entry.index) else { return }
        if proposal.term == entry.term {
            completions.append(.committed(token: proposal.token, index: entry.index, output: output))
        } else {
            completions.append(.dropped(token: proposal.token))
        }
    }

    private mutating func resolve(_ readState: ReadState) {
        guard let token = readRequests.removeValue(forKey: readState.requestID) else { return }
        guard let index = readState.index else {
            completions.append(.readFailed(token: token))
            return
        }
        readsAwaitingApply.append((index, token))
    }

    private mutating func releaseReads() {
        // Read indexes arrive in increasing order from one leader, but a new leader may answer lower ones.
        var waiting: Deque<(index: LogIndex, token: UInt64)> = []
        for read in readsAwaitingApply {
            if read.index <= appliedIndex {
                completions.append(.readable(token: read.token))
            } else {
                waiting.append(read)
            }
        }
        readsAwaitingApply = waiting
    }
}
