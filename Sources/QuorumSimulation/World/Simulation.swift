import QuorumConsensus
import QuorumNode
import QuorumStore
import QuorumWire

/// A deterministic world: real consensus engines (Raft, or Multi-Paxos with `SimulationOptions.consensus`) and the real
/// node driver, on a simulated network, disk and clock,
/// with faults. Everything random comes from the seed, so a seed replays bit for bit.
///
/// A run has three phases. Faults: crashes, partitions, drops, slow disks, membership changes and leadership
/// transfers while clients read, write and compare-and-set. Liveness: everything heals, and within a bound a
/// leader must be elected and a write applied on every voter. Draining: clients finish. Safety is checked
/// after every event; linearizability of the client history at the end.
public final class Simulation {
    typealias Driver = NodeDriver<SelectedEngine, SimulatedDisk, SimulatedEndpoint, RegisterMachine>

    public let options: SimulationOptions
    let checker: SafetyChecker
    /// Multi-Paxos worlds: each leader's configurations against those the chosen values prescribe.
    let paxosConfigurations: PaxosConfigurationChecker?
    var stats = SimulationStats()
    var random: SplitMix64
    /// Draws for faults aimed at particular rules, apart from `random` so that adding one leaves every seed's
    /// world otherwise unchanged.
    var aimedFaults: SplitMix64
    /// Draws for whole-cluster power losses, a stream of their own for the same reason.
    var powerLosses: SplitMix64
    /// Draws for damaged disks, likewise.
    var diskDamages: SplitMix64
    /// Draws for learners added to stay learners, likewise.
    var plainLearners: SplitMix64
    /// Draws for leases and wall-clock jumps in worlds that run the store, likewise.
    var leaseDraws: SplitMix64
    /// Draws for snapshots sent in parts, likewise.
    var partDraws: SplitMix64
    /// With `SimulationOptions.snapshotParts`: each directed link's connection, as its two ends see it.
    var partSenders: [SimulatedNetwork.Link: PartSender] = [:]
    var partStreams: [SimulatedNetwork.Link: PartStream] = [:]
    var now: UInt64 = 0
    var events = EventQueue<EventKind>()
    var network: SimulatedNetwork
    var nodes: [NodeID: SimulatedNode] = [:]
    var diskQueueTail: [NodeID: UInt64] = [:]
    /// Each node's tick interval: clocks that run at different rates.
    var tickIntervalMs: [NodeID: UInt64] = [:]
    var clients: [SimulatedClient]
    var history: [HistoryOperation] = []
    var discarded: Set<Int> = []
    var outstanding: [UInt64: (client: Int, historyIndex: Int, node: NodeID)] = [:]
    /// With the store: lease grants and keep-alives awaiting their answer, by token.
    var leaseActions: [UInt64: (client: Int, lease: LeaseID)] = [:]
    /// With the store: when a leader first proposed revoking each lease, and the revocations applied.
    var revocationProposedAt: [LeaseID: UInt64] = [:]
    let revocations = AppliedRevocations()
    var nextToken: UInt64 = 1
    var nextWrittenValue = 1
    var phase = Phase.faults
    /// Writes issued after healing; the first to commit must then be applied by every voter.
    var livenessProbeTokens: Set<UInt64> = []
    var livenessProbeIndex: LogIndex?
    var log: ((String) -> Void)?

    enum Phase { case faults, liveness, draining, finished }

    struct SimulatedNode {
        var driver: Driver?
        let disk: SimulatedDisk
        let endpoint: SimulatedEndpoint
        var incarnation = 0
        /// The term in which this node was last seen leading, to notice new leaderships.
        var leaderTerm: Term?
        /// Whether the driver's inputs wait for a `.process` event (the end of the event-loop turn).
        var processingScheduled = false
        /// The highest commit and applied indexes this incarnation reached: neither may go back while it runs.
        var highestCommit: LogIndex = 0
        var highestApplied: LogIndex = 0
        /// Until then the node's timer does not fire (a stalled process clock); it still serves whoever reaches it.
        var clockStalledUntil: UInt64?
        /// The newest configuration the node's engine held, kept while it is down.
        var configuration: Configuration?
        /// With the store: the leases this node, leading, has proposed to revoke.
        var leaseRevocations = LeaseRevocations(perTick: 4)
        /// With the store: how far the machine's wall clock is off the world's time, after its jumps.
        var clockOffsetMs: Int64 = 0
    }

    struct SimulatedClient {
        var preferredNode: NodeID?
        var isWaiting = false
        /// With the store: the client's session sequence, and its current write.
        var sequence: UInt64 = 0
        var write: ClientWrite?
        /// With the store: the lease the client holds (granted and not known to be gone), and how many it asked for.
        var lease: LeaseID?
        var leasesAsked: UInt64 = 0
    }

    /// A write of a client in a world that runs the store, with its session and the attempts made so far.
    struct ClientWrite {
        let command: RegisterCommand
        let session: ClientSession
        var attempts = 1
    }

    /// - Parameter log: receives a line per notable event (elections, faults), for replaying a seed by eye.
    public init(options: SimulationOptions, log: ((String) -> Void)? = nil) {
        self.options = options
        self.checker = SafetyChecker(checksRaftLogs: options.consensus == .raft)
        self.paxosConfigurations = PaxosConfigurationChecker(world: options)
        self.random = SplitMix64(seed: options.seed ^ 0x5EED_0F_3A21D)
        self.aimedFaults = SplitMix64(seed: options.seed ^ 0xA1_3ED_FA17)
        self.powerLosses = SplitMix64(seed: options.seed ^ 0x90_3E_1055)
        self.diskDamages = SplitMix64(seed: options.seed ^ 0xD15C_DA3A6E)
        self.plainLearners = SplitMix64(seed: options.seed ^ 0x1EA2_E25)
        self.leaseDraws = SplitMix64(seed: options.seed ^ 0x1EA5_E5)
        self.partDraws = SplitMix64(seed: options.seed ^ 0x9A_2715)
        self.network = SimulatedNetwork(
            delayMsMax: options.messageDelayMsMax, dropRate: options.messageDropRate,
            duplicateRate: options.messageDuplicateRate, longDelayRate: options.messageLongDelayRate)
        self.clients = Array(repeating: SimulatedClient(), count: options.clients)
        self.log = log
    }

    var allNodeIDs: [NodeID] { (1...UInt64(options.clusterSize + options.spareNodes)).map { NodeID($0) } }

    // MARK: Running

    public func run() -> SimulationReport {
        for id in allNodeIDs {
            let skew = options.clockSkew * (2 * Double(random.next() >> 11) / Double(1 << 53) - 1)
            tickIntervalMs[id] = max(1, UInt64((Double(options.tickIntervalMs) * (1 + skew)).rounded()))
            let disk = SimulatedDisk(node: id, world: self)
            nodes[id] = SimulatedNode(driver: nil, disk: disk, endpoint: SimulatedEndpoint(world: self, disk: disk))
            start(id)
        }
        for client in clients.indices { schedule(.clientNext(client), after: random.next(upperBound: 50)) }
        scheduleRecurring(.repartition, every: options.partitionIntervalMs)
        scheduleRecurring(.crash, every: options.crashIntervalMs)
        scheduleRecurring(.membershipChange, every: options.membershipChangeIntervalMs)
        scheduleRecurring(.leadershipTransfer, every: 2_500)
        schedule(.heal, after: options.faultPhaseMs)
        let livenessDeadline = options.faultPhaseMs + options.livenessBoundMs
        let drainingDeadline = livenessDeadline + options.operationTimeoutMs + 100

        while phase != .finished, checker.violation == nil, let event = events.next() {
            now = event.time
            checker.now = now
            stats.events += 1
            handle(event.kind)
            if phase == .liveness && now > livenessDeadline {
                checker.fail(
                    "liveness: no leader with a write applied on every voter \(options.livenessBoundMs) ms after healing; \(clusterSummary())"
                )
            }
            if phase == .draining && (now > drainingDeadline || !clients.contains(where: \.isWaiting)) {
                phase = .finished
            }
        }
        return report()
    }

    func report() -> SimulationReport {
        let revocationDeletes = revocationDeletes()
        stats.leaderElections = checker.leaderElections
        stats.membershipChanges = checker.membershipChangesApplied
        stats.entriesApplied = Int(checker.highestApplied.rawValue)
        stats.highestTerm = nodes.values.compactMap { $0.driver?.engine.term }.max() ?? 0
        var report = SimulationReport(options: options, stats: stats, linearizability: nil, failure: checker.violation)
        report.failure = report.failure ?? divergentReplicas()
        guard report.failure == nil else { return report }
        let checked = history.enumerated().filter { !discarded.contains($0.offset) }.map(\.element) + revocationDeletes
        let verdict = LinearizabilityChecker().check(checked)
        report.linearizability = verdict
        report.failure = verdict.failure(waived: options.waivesUndecidedLinearizability)
        return report
    }

    /// Replicas that applied the same prefix of the log must hold the same state, byte for byte in a snapshot:
    /// a state machine that is not deterministic, or a snapshot that restores something else than was applied,
    /// shows here even when no client happened to read the difference.
    private func divergentReplicas() -> String? {
        var stateByApplied: [LogIndex: (node: NodeID, state: [UInt8])] = [:]
        for id in nodes.keys.sorted() {
            guard let driver = nodes[id]!.driver else { continue }
            let state = RegisterMachine.serialize(driver.stateMachine.snapshotImage())
            if let first = stateByApplied[driver.appliedIndex] {
                if first.state != state {
                    return "state divergence: \(first.node) and \(id) both applied through \(driver.appliedIndex) "
                        + "but hold different states"
                }
            } else {
                stateByApplied[driver.appliedIndex] = (id, state)
            }
        }
        return nil
    }

    func clusterSummary() -> String {
        nodes.keys.sorted().map { id in
            guard let engine = nodes[id]!.driver?.engine else { return "\(id): down" }
            let persisting = nodes[id]!.driver!.isPersisting ? " persisting" : ""
            let status = engine.replicationStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            if !status.isEmpty { return "\(id): \(engine.role) \(engine.term) [\(status.joined(separator: ", "))]" }
            return
                "\(id): \(engine.role) \(engine.term) commit \(engine.commitIndex) last \(engine.lastIndex)\(persisting) \(engine.configuration)"
        }.joined(separator: "; ")
    }

    // MARK: Events

    enum EventKind {
        case tick(NodeID, incarnation: Int)
        case deliver(Message)
        case sendInParts(Message)
        case deliverPart(SimulatedNetwork.Link, connection: UInt64, incarnation: Int, part: Frame)
        case diskCompletion(NodeID, incarnation: Int, readyNumber: UInt64)
        case process(NodeID, incarnation: Int)
        case restart(NodeID)
        case crashNode(NodeID)
        case removeDamaged(NodeID)
        case snapshotSerialized(NodeID, incarnation: Int, index: LogIndex, data: [UInt8])
        case repartition, crash, membershipChange, leadershipTransfer
        indirect case recurring(RecurringFault, intervalMs: UInt64)
        case heal, livenessProbe
        case clientNext(Int)
        case clientTimeout(token: UInt64)
        case leaseActionTimeout(token: UInt64)
    }

    typealias RecurringFault = EventKind

    func schedule(_ kind: EventKind, after delay: UInt64) {
        events.schedule(kind, at: now + delay)
    }

    func scheduleRecurring(_ fault: EventKind, every intervalMs: UInt64) {
        guard intervalMs > 0 else { return }
        schedule(.recurring(fault, intervalMs: intervalMs), after: intervalMs / 2 + random.next(upperBound: intervalMs))
    }

    func handle(_ kind: EventKind) {
        switch kind {
        case .tick(let id, let incarnation):
            guard nodes[id]!.incarnation == incarnation, nodes[id]!.driver != nil else { return }
            if let resumesAt = nodes[id]!.clockStalledUntil, resumesAt > now {
                schedule(.tick(id, incarnation: incarnation), after: resumesAt - now)
                return
            }
            withDriver(id) { $0.tick() }
            if options.runsStore { leaseTick(id) }
            schedule(.tick(id, incarnation: incarnation), after: tickIntervalMs[id]!)
        case .deliver(let message):
            deliver(message)
        case .sendInParts(let message):
            sendInParts(message)
        case .deliverPart(let link, let connection, let incarnation, let part):
            receivePart(part, on: link, connection: connection, incarnation: incarnation)
        case .diskCompletion(let id, let incarnation, let readyNumber):
            guard nodes[id]!.disk.incarnation == incarnation else { return }
            nodes[id]!.disk.complete(readyNumber: readyNumber)
            withDriver(id) { $0.persisted(readyNumber: readyNumber) }
        case .process(let id, let incarnation):
            guard nodes[id]!.incarnation == incarnation, nodes[id]!.driver != nil else { return }
            nodes[id]!.processingScheduled = false
            withDriver(id) { $0.process() }
        case .restart(let id):
            guard nodes[id]!.driver == nil else { return }
            start(id)
        case .recurring(let fault, let intervalMs):
            guard phase == .faults else { return }
            handle(fault)
            schedule(
                .recurring(fault, intervalMs: intervalMs), after: intervalMs / 2 + random.next(upperBound: intervalMs))
        case .repartition:
            stats.partitions += 1
            let partition = network.repartition(allNodeIDs, random: &random)
            if let leader = currentLeader, aimedFaults.chance(0.25) {
                isolateWithStalledClock(leader)
            } else {
                note("partition: \(partition)")
            }
        case .crash:
            let running = allNodeIDs.filter { nodes[$0]!.driver != nil }
            if powerLosses.chance(0.1) {
                losePower(running)
            } else if let leader = currentLeader, random.chance(0.5) {
                crash(leader)
            } else if let victim = running.randomElement(using: &random) {
                crash(victim)
            }
        case .crashNode(let id):
            guard phase == .faults, nodes[id]!.driver != nil else { return }
            crash(id)
        case .removeDamaged(let id):
            removeDamaged(id)
        case .snapshotSerialized(let id, let incarnation, let index, let data):
            guard nodes[id]!.incarnation == incarnation, let engine = nodes[id]!.driver?.engine else { return }
            stats.snapshotsSerializedAside += 1
            if index.advanced(by: 1) < engine.firstIndex { stats.snapshotsOvertaken += 1 }
            withDriver(id) { $0.snapshotSerialized(through: index, data: data) }
        case .membershipChange:
            changeMembership()
        case .leadershipTransfer:
            transferLeadership()
        case .heal:
            heal()
        case .livenessProbe:
            probeLiveness()
        case .clientNext(let client):
            startOperation(client)
        case .clientTimeout(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            // Fail over, as a client does when its node stops answering.
            clients[operation.client].preferredNode = allNodeIDs.randomElement(using: &aimedFaults)
            giveUpOrRetry(operation)
        case .leaseActionTimeout(let token):
            guard let action = leaseActions[token] else { return }
            clients[action.client].preferredNode = allNodeIDs.randomElement(using: &aimedFaults)
            _ = finishLeaseAction(token: token, alive: false)
        }
    }

    /// Runs `body` on a live node's driver, then checks the node and collects its completions.
    func withDriver(_ id: NodeID, _ body: (inout Driver) -> Void) {
        guard nodes[id]?.driver != nil else { return }
        let committedBefore = checker.highestCommitted
        body(&nodes[id]!.driver!)
        let turnEndDue = nodes[id]!.processingScheduled
        if nodes[id]!.driver!.processNowOrAtTurnEnd(
            turnEndDue: turnEndDue, defers: { random.chance(options.processingDeferralRate) })
        {
            nodes[id]!.processingScheduled = true
            schedule(.process(id, incarnation: nodes[id]!.incarnation), after: random.next(upperBound: 2))
        }
        let engine = nodes[id]!.driver!.engine
        nodes[id]!.configuration = engine.configuration
        engine.checkInvariants()
        checkProgressKeepsForward(id, commit: engine.commitIndex, applied: nodes[id]!.driver!.appliedIndex)
        checker.recordProgress(of: engine, on: id)
        if engine.role == .leader {
            let isNew = nodes[id]!.leaderTerm != engine.term
            if isNew {
                note("\(id) leads \(engine.term) with \(engine.configuration)")
                if phase == .faults && random.chance(options.newLeaderCrashRate) {
                    schedule(.crashNode(id), after: random.next(upperBound: 2 * options.diskLatencyMsMax + 2))
                }
                if phase == .faults && aimedFaults.chance(0.1) { strand(id) }
            }
            if phase == .faults, isFigureEightMoment(engine, beyond: committedBefore),
                aimedFaults.chance(0.5)
            {
                note("\(id) has only earlier terms' entries on a quorum: it crashes, and crashed nodes come back")
                schedule(.crashNode(id), after: 0)
                for down in allNodeIDs where nodes[down]!.driver == nil {
                    schedule(.restart(down), after: aimedFaults.next(upperBound: 20))
                }
            }
            checker.recordLeader(
                id, term: engine.term, isNew: isNew, hasEntry: engine.term(at:), firstIndex: engine.firstIndex)
            if let paxosConfigurations {
                if let violation = paxosConfigurations.check(leader: engine, chosenValue: checker.chosenValue(at:)) {
                    checker.fail(violation)
                }
            } else {
                checker.recordLeaderConfiguration(
                    engine.configuration, of: id, lastIndex: engine.lastIndex,
                    configurationAt: engine.configuration(at:))
            }
            nodes[id]!.leaderTerm = engine.term
        }
        for completion in nodes[id]!.driver!.takeCompletions() { complete(completion, on: id) }
        if let job = nodes[id]!.driver!.takeSnapshotJob() {
            // The image is a value captured now; its bytes come back later, as from the server's serialising thread.
            let serialized = EventKind.snapshotSerialized(
                id, incarnation: nodes[id]!.incarnation, index: job.index, data: RegisterMachine.serialize(job.image))
            schedule(serialized, after: 1 + random.next(upperBound: options.snapshotSerializationMsMax))
        }
    }

    /// Whether a Raft leader has just got entries of earlier terms onto a quorum, beyond anything committed, while
    /// no entry of its own term is on one, and some disk holds a newer term's entry at one of those indexes: Figure
    /// 8's moment (Raft §5.4.2). The entries are not committed yet; a leader that counted them committed and then
    /// died lets the holder of the newer entry, once elected, overwrite them.
    private func isFigureEightMoment(_ engine: SelectedEngine, beyond committed: LogIndex) -> Bool {
        guard case .raft = engine else { return false }
        let status = engine.replicationStatus
        let matched = engine.configuration.voters.map {
            $0 == engine.id ? engine.lastIndex : status[$0]?.matchIndex ?? 0
        }
        let onQuorum = matched.sorted(by: >)[engine.configuration.quorumSize - 1]
        guard onQuorum > committed, let termThere = engine.term(at: onQuorum), termThere < engine.term else {
            return false
        }
        return nodes.values.contains { node in
            node.disk.durable.entries.contains { entry in
                entry.index > committed && entry.index <= onQuorum
                    && entry.term > (engine.term(at: entry.index) ?? entry.term)
            }
        }
    }

    /// Commit and applied indexes only grow while a node runs: going back means a committed entry or applied
    /// state was undone (an old snapshot installed over newer state, a truncation below the commit index).
    private func checkProgressKeepsForward(_ id: NodeID, commit: LogIndex, applied: LogIndex) {
        if commit < nodes[id]!.highestCommit {
            checker.fail("\(id)'s commit index went back from \(nodes[id]!.highestCommit) to \(commit)")
        }
        if applied < nodes[id]!.highestApplied {
            checker.fail("\(id)'s applied index went back from \(nodes[id]!.highestApplied) to \(applied)")
        }
        nodes[id]!.highestCommit = max(nodes[id]!.highestCommit, commit)
        nodes[id]!.highestApplied = max(nodes[id]!.highestApplied, applied)
    }

    func note(_ line: @autoclosure () -> String) {
        log?("[\(now) ms] \(line())")
    }

    // MARK: Network and disk, called back by the node's transport and storage

    func transmit(_ message: Message) {
        stats.messagesSent += 1
        guard !network.isBlocked(from: message.from, to: message.to) else { return }
        if options.snapshotParts > 1, message.payload.snapshot != nil {
            // Cut up once the sender's driver has returned: the cutting looks at the receiver.
            return schedule(.sendInParts(message), after: 0)
        }
        for delay in network.deliveryDelays(random: &random) { schedule(.deliver(message), after: delay) }
    }

    func deliver(_ message: Message) {
        guard nodes[message.to]?.driver != nil else { return }
        stats.messagesDelivered += 1
        withDriver(message.to) { driver in
            if let error = driver.receive(message) {
                self.checker.fail("\(message.to) refused \(message): \(error)")
            }
        }
    }

    func scheduleDiskCompletion(node: NodeID, incarnation: Int, readyNumber: UInt64) {
        let done = max(now + random.next(upperBound: options.diskLatencyMsMax + 1), diskQueueTail[node] ?? 0)
        diskQueueTail[node] = done
        schedule(.diskCompletion(node, incarnation: incarnation, readyNumber: readyNumber), after: done - now)
    }
}
