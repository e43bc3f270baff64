import HeapModule
import QuorumConsensus
import QuorumNode

/// A deterministic world: real Raft engines and the real node driver, on a simulated network, disk and clock,
/// with faults. Everything random comes from the seed, so a seed replays bit for bit.
///
/// A run has three phases. Faults: crashes, partitions, drops, slow disks, membership changes and leadership
/// transfers while clients read, write and compare-and-set. Liveness: everything heals, and within a bound a
/// leader must be elected and a write applied on every voter. Draining: clients finish. Safety is checked
/// after every event; linearizability of the client history at the end.
public final class Simulation {
    typealias Driver = NodeDriver<RaftNode, SimulatedDisk, SimulatedEndpoint, RegisterMachine>

    public let options: SimulationOptions
    let checker = SafetyChecker()
    var stats = SimulationStats()
    private var random: SplitMix64
    private var now: UInt64 = 0
    private var events = Heap<ScheduledEvent>()
    private var eventSequence: UInt64 = 0
    private var network: SimulatedNetwork
    private var nodes: [NodeID: SimulatedNode] = [:]
    private var diskQueueTail: [NodeID: UInt64] = [:]
    /// Each node's tick interval: clocks that run at different rates.
    private var tickIntervalMs: [NodeID: UInt64] = [:]
    private var clients: [SimulatedClient]
    private var history: [HistoryOperation] = []
    private var discarded: Set<Int> = []
    private var outstanding: [UInt64: (client: Int, historyIndex: Int, node: NodeID)] = [:]
    private var nextToken: UInt64 = 1
    private var nextWrittenValue = 1
    private var phase = Phase.faults
    /// Writes issued after healing; the first to commit must then be applied by every voter.
    private var livenessProbeTokens: Set<UInt64> = []
    private var livenessProbeIndex: LogIndex?
    private var log: ((String) -> Void)?

    private enum Phase { case faults, liveness, draining, finished }

    private struct SimulatedNode {
        var driver: Driver?
        let disk: SimulatedDisk
        let endpoint: SimulatedEndpoint
        var incarnation = 0
        /// The term in which this node was last seen leading, to notice new leaderships.
        var leaderTerm: Term?
    }

    private struct SimulatedClient {
        var preferredNode: NodeID?
        var isWaiting = false
    }

    /// - Parameter log: receives a line per notable event (elections, faults), for replaying a seed by eye.
    public init(options: SimulationOptions, log: ((String) -> Void)? = nil) {
        self.options = options
        self.random = SplitMix64(seed: options.seed ^ 0x5EED_0F_3A21D)
        self.network = SimulatedNetwork(
            delayMsMax: options.messageDelayMsMax, dropRate: options.messageDropRate,
            duplicateRate: options.messageDuplicateRate, longDelayRate: options.messageLongDelayRate)
        self.clients = Array(repeating: SimulatedClient(), count: options.clients)
        self.log = log
    }

    private var allNodeIDs: [NodeID] { (1...UInt64(options.clusterSize + options.spareNodes)).map { NodeID($0) } }

    // MARK: Running

    public func run() -> SimulationReport {
        for id in allNodeIDs {
            let skew = options.clockSkew * (2 * Double(random.next() >> 11) / Double(1 << 53) - 1)
            tickIntervalMs[id] = max(1, UInt64((Double(options.tickIntervalMs) * (1 + skew)).rounded()))
            nodes[id] = SimulatedNode(driver: nil, disk: SimulatedDisk(node: id, world: self), endpoint: SimulatedEndpoint(world: self))
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

        while phase != .finished, checker.violation == nil, let event = events.popMin() {
            now = event.time
            checker.now = now
            stats.events += 1
            handle(event.kind)
            if phase == .liveness && now > livenessDeadline {
                checker.fail("liveness: no leader with a write applied on every voter \(options.livenessBoundMs) ms after healing; \(clusterSummary())")
            }
            if phase == .draining && (now > drainingDeadline || !clients.contains(where: \.isWaiting)) {
                phase = .finished
            }
        }
        return report()
    }

    private func report() -> SimulationReport {
        stats.leaderElections = checker.leaderElections
        stats.membershipChanges = checker.membershipChangesApplied
        stats.entriesApplied = Int(checker.highestApplied.rawValue)
        stats.highestTerm = nodes.values.compactMap { $0.driver?.engine.term }.max() ?? 0
        var report = SimulationReport(options: options, stats: stats, linearizability: nil, failure: checker.violation)
        guard report.failure == nil else { return report }
        let checked = history.enumerated().filter { !discarded.contains($0.offset) }.map(\.element)
        let verdict = LinearizabilityChecker().check(checked)
        report.linearizability = verdict
        if case .notLinearizable = verdict { report.failure = "linearizability: \(verdict)" }
        return report
    }

    private func clusterSummary() -> String {
        nodes.keys.sorted().map { id in
            guard let engine = nodes[id]!.driver?.engine else { return "\(id): down" }
            let persisting = nodes[id]!.driver!.isPersisting ? " persisting" : ""
            let status = engine.replicationStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            if !status.isEmpty { return "\(id): \(engine.role) \(engine.term) [\(status.joined(separator: ", "))]" }
            return "\(id): \(engine.role) \(engine.term) commit \(engine.commitIndex) last \(engine.lastIndex)\(persisting) \(engine.configuration)"
        }.joined(separator: "; ")
    }

    // MARK: Events

    private struct ScheduledEvent: Comparable {
        var time: UInt64
        var sequence: UInt64
        var kind: EventKind
        static func < (a: ScheduledEvent, b: ScheduledEvent) -> Bool { (a.time, a.sequence) < (b.time, b.sequence) }
        static func == (a: ScheduledEvent, b: ScheduledEvent) -> Bool { (a.time, a.sequence) == (b.time, b.sequence) }
    }

    private enum EventKind {
        case tick(NodeID, incarnation: Int)
        case deliver(Message)
        case diskCompletion(NodeID, incarnation: Int, readyNumber: UInt64)
        case restart(NodeID)
        case crashNode(NodeID)
        case repartition, crash, membershipChange, leadershipTransfer
        indirect case recurring(RecurringFault, intervalMs: UInt64)
        case heal, livenessProbe
        case clientNext(Int)
        case clientTimeout(token: UInt64)
    }

    private typealias RecurringFault = EventKind

    private func schedule(_ kind: EventKind, after delay: UInt64) {
        eventSequence += 1
        events.insert(ScheduledEvent(time: now + delay, sequence: eventSequence, kind: kind))
    }

    private func scheduleRecurring(_ fault: EventKind, every intervalMs: UInt64) {
        guard intervalMs > 0 else { return }
        schedule(.recurring(fault, intervalMs: intervalMs), after: intervalMs / 2 + random.next(upperBound: intervalMs))
    }

    private func handle(_ kind: EventKind) {
        switch kind {
        case .tick(let id, let incarnation):
            guard nodes[id]!.incarnation == incarnation, nodes[id]!.driver != nil else { return }
            withDriver(id) { $0.tick() }
            schedule(.tick(id, incarnation: incarnation), after: tickIntervalMs[id]!)
        case .deliver(let message):
            guard nodes[message.to]?.driver != nil else { return }
            stats.messagesDelivered += 1
            withDriver(message.to) { driver in
                if let error = driver.receive(message) { self.checker.fail("\(message.to) refused \(message): \(error)") }
            }
        case .diskCompletion(let id, let incarnation, let readyNumber):
            guard nodes[id]!.disk.incarnation == incarnation else { return }
            nodes[id]!.disk.complete(readyNumber: readyNumber)
            withDriver(id) { $0.persisted(readyNumber: readyNumber) }
        case .restart(let id):
            guard nodes[id]!.driver == nil else { return }
            start(id)
        case .recurring(let fault, let intervalMs):
            guard phase == .faults else { return }
            handle(fault)
            schedule(.recurring(fault, intervalMs: intervalMs), after: intervalMs / 2 + random.next(upperBound: intervalMs))
        case .repartition:
            stats.partitions += 1
            let partition = network.repartition(allNodeIDs, random: &random)
            note("partition: \(partition)")
        case .crash:
            let running = allNodeIDs.filter { nodes[$0]!.driver != nil }
            if let leader = currentLeader, random.chance(0.5) {
                crash(leader)
            } else if let victim = running.randomElement(using: &random) {
                crash(victim)
            }
        case .crashNode(let id):
            guard phase == .faults, nodes[id]!.driver != nil else { return }
            crash(id)
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
            stats.operationsUnknown += 1
            finish(client: operation.client)
        }
    }

    /// Runs `body` on a live node's driver, then checks the node and collects its completions.
    private func withDriver(_ id: NodeID, _ body: (inout Driver) -> Void) {
        guard nodes[id]?.driver != nil else { return }
        body(&nodes[id]!.driver!)
        let engine = nodes[id]!.driver!.engine
        engine.checkInvariants()
        checker.recordCommitted(through: engine.commitIndex, on: id, termAt: engine.term(at:))
        if engine.role == .leader {
            let isNew = nodes[id]!.leaderTerm != engine.term
            if isNew {
                note("\(id) leads \(engine.term) with \(engine.configuration)")
                if phase == .faults && random.chance(options.newLeaderCrashRate) {
                    schedule(.crashNode(id), after: random.next(upperBound: 2 * options.diskLatencyMsMax + 2))
                }
            }
            checker.recordLeader(id, term: engine.term, isNew: isNew, hasEntry: engine.term(at:), firstIndex: engine.firstIndex)
            nodes[id]!.leaderTerm = engine.term
        }
        for completion in nodes[id]!.driver!.takeCompletions() { complete(completion, on: id) }
    }

    private func note(_ line: @autoclosure () -> String) {
        log?("[\(now) ms] \(line())")
    }

    // MARK: Network and disk, called back by the node's transport and storage

    func transmit(_ message: Message) {
        stats.messagesSent += 1
        guard !network.isBlocked(from: message.from, to: message.to) else { return }
        for delay in network.deliveryDelays(random: &random) { schedule(.deliver(message), after: delay) }
    }

    func scheduleDiskCompletion(node: NodeID, incarnation: Int, readyNumber: UInt64) {
        let done = max(now + random.next(upperBound: options.diskLatencyMsMax + 1), diskQueueTail[node] ?? 0)
        diskQueueTail[node] = done
        schedule(.diskCompletion(node, incarnation: incarnation, readyNumber: readyNumber), after: done - now)
    }

    // MARK: Faults

    private func start(_ id: NodeID) {
        let disk = nodes[id]!.disk
        let recovered = disk.durable
        let engine: RaftNode
        do {
            engine = try RaftNode(id: id, options: options.raftOptions(for: id, incarnation: nodes[id]!.incarnation), recovered: recovered)
        } catch {
            checker.fail("\(id) could not start: \(error)")
            return
        }
        let incarnation = nodes[id]!.incarnation
        nodes[id]!.leaderTerm = nil
        nodes[id]!.driver = Driver(
            engine: engine, stateMachine: RegisterMachine(node: id, checker: checker), storage: disk,
            transport: nodes[id]!.endpoint, recoveredSnapshot: recovered.snapshot)
        withDriver(id) { _ in }
        schedule(.tick(id, incarnation: incarnation), after: 1 + random.next(upperBound: options.tickIntervalMs))
    }

    private func crash(_ victim: NodeID) {
        let disk = nodes[victim]!.disk
        let torn = disk.hasPendingWrites && random.chance(0.5)
            ? Int(random.next(upperBound: UInt64(disk.firstPendingEntryCount + 1))) : nil
        disk.crash(tornPrefixOf: torn)
        nodes[victim]!.driver = nil
        nodes[victim]!.incarnation += 1
        stats.crashes += 1
        note("crash \(victim)\(torn.map { ", torn write kept \($0) entries" } ?? "")")
        schedule(.restart(victim), after: 200 + random.next(upperBound: 2_000))
    }

    private var currentLeader: NodeID? {
        allNodeIDs.filter { nodes[$0]!.driver?.engine.role == .leader }
            .max { nodes[$0]!.driver!.engine.term < nodes[$1]!.driver!.engine.term }
    }

    /// Keeps the voter count within one of the initial size, adding and removing nodes (the leader included).
    private func changeMembership() {
        guard let leader = currentLeader else { return }
        let configuration = nodes[leader]!.driver!.engine.configuration
        let outsiders = allNodeIDs.filter { !configuration.contains($0) }
        let canAdd = !outsiders.isEmpty && configuration.voters.count <= options.clusterSize
        let canRemove = configuration.voters.count >= options.clusterSize
        let change: ConfigurationChange
        if canAdd && (!canRemove || random.chance(0.5)) {
            change = .addLearner(outsiders.randomElement(using: &random)!, promoteWhenCaughtUp: true)
        } else if canRemove {
            let members = configuration.voters.union(configuration.learners).sorted()
            change = .remove(members.randomElement(using: &random)!)
        } else {
            return
        }
        withDriver(leader) { driver in
            do throws(ProposalError) {
                try driver.proposeConfigurationChange(change, token: 0)
                self.note("\(leader) proposes \(change)")
            } catch {
                self.note("\(leader) refuses \(change): \(error)")
            }
        }
    }

    private func transferLeadership() {
        guard let leader = currentLeader else { return }
        let voters = nodes[leader]!.driver!.engine.configuration.voters.subtracting([leader]).sorted()
        guard let target = voters.randomElement(using: &random) else { return }
        withDriver(leader) { driver in
            if (try? driver.transferLeadership(to: target)) != nil {
                self.stats.leadershipTransfers += 1
                self.note("\(leader) transfers leadership to \(target)")
            }
        }
    }

    private func heal() {
        phase = .liveness
        network.heal()
        network.dropRate = 0
        network.duplicateRate = 0
        network.longDelayRate = 0
        note("heal: network repaired, crashed nodes restart")
        for id in allNodeIDs where nodes[id]!.driver == nil { start(id) }
        schedule(.livenessProbe, after: 1)
    }

    /// Writes through the current leader until one write commits, then waits for every voter to apply it.
    private func probeLiveness() {
        guard phase == .liveness else { return }
        schedule(.livenessProbe, after: 20)
        guard let leader = currentLeader else { return }
        if let index = livenessProbeIndex {
            let voters = nodes[leader]!.driver!.engine.configuration.voters
            if voters.allSatisfy({ (nodes[$0]?.driver?.appliedIndex ?? 0) >= index }) {
                stats.livenessMs = now - options.faultPhaseMs
                note("liveness: \(leader) leads, probe at \(index) applied on \(voters.sorted())")
                phase = .draining
            }
            return
        }
        let token = issueToken()
        let command = RegisterCommand(key: "liveness", operation: .put(Int(now))).encoded
        withDriver(leader) { driver in
            if (try? driver.propose(command, token: token)) != nil { self.livenessProbeTokens.insert(token) }
        }
    }

    // MARK: Clients

    private func issueToken() -> UInt64 {
        nextToken += 1
        return nextToken
    }

    private func startOperation(_ client: Int) {
        guard phase == .faults || phase == .liveness else { return }
        let key = "k\(random.next(upperBound: UInt64(options.keys)))"
        let operation: KVOperation
        switch random.next(upperBound: UInt64(20)) {
        case 0..<9: operation = .get
        case 9..<16:
            operation = .put(nextWrittenValue)
            nextWrittenValue += 1
        default:
            let expected = random.chance(0.2) ? nil : Int(random.next(upperBound: UInt64(nextWrittenValue)))
            operation = .compareAndSet(expected: expected, new: nextWrittenValue)
            nextWrittenValue += 1
        }
        let node = clients[client].preferredNode ?? allNodeIDs.randomElement(using: &random)!
        guard nodes[node]!.driver != nil else {
            clients[client].preferredNode = nil
            stats.operationsRefused += 1
            schedule(.clientNext(client), after: 5)
            return
        }
        let token = issueToken()
        var refusal: ProposalError?
        withDriver(node) { driver in
            do throws(ProposalError) {
                if case .get = operation {
                    try driver.read(token: token)
                } else {
                    try driver.propose(RegisterCommand(key: key, operation: operation).encoded, token: token)
                }
            } catch {
                refusal = error
            }
        }
        if let refusal {
            stats.operationsRefused += 1
            if case .notLeader(let hint) = refusal { clients[client].preferredNode = hint }
            schedule(.clientNext(client), after: 2 + random.next(upperBound: 10))
            return
        }
        history.append(HistoryOperation(client: client, key: key, operation: operation, invokedAt: now, completedAt: nil, result: nil))
        outstanding[token] = (client, history.count - 1, node)
        clients[client].isWaiting = true
        schedule(.clientTimeout(token: token), after: options.operationTimeoutMs)
    }

    private func complete(_ completion: Driver.Completion, on node: NodeID) {
        switch completion {
        case .committed(let token, let index, let output):
            if livenessProbeTokens.contains(token) { livenessProbeIndex = livenessProbeIndex ?? index }
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            guard let output else {
                checker.fail("a client command at \(index) produced no output")
                return
            }
            record(operation, result: output)
        case .readable(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            let key = history[operation.historyIndex].key
            record(operation, result: .value(nodes[node]!.driver!.stateMachine.registers[key]))
        case .dropped(let token), .readFailed(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            // It certainly did not take effect: leave it out of the history.
            discarded.insert(operation.historyIndex)
            stats.operationsRefused += 1
            finish(client: operation.client)
        case .unknown(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            stats.operationsUnknown += 1
            finish(client: operation.client)
        }
    }

    private func record(_ operation: (client: Int, historyIndex: Int, node: NodeID), result: KVResult) {
        history[operation.historyIndex].completedAt = now
        history[operation.historyIndex].result = result
        stats.operationsCompleted += 1
        clients[operation.client].preferredNode = operation.node
        finish(client: operation.client)
    }

    private func finish(client: Int) {
        clients[client].isWaiting = false
        schedule(.clientNext(client), after: random.next(upperBound: 10))
    }
}
