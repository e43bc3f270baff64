import QuorumConsensus
import QuorumNode

/// A deterministic world in which every node hosts several consensus groups, as a multi-raft host does: real
/// Raft engines with quiescence on, in real node drivers, one per group on each node. The groups of a node share
/// its simulated disk (one fsync serves every group's pending writes) and each node pair shares one link: what
/// all groups send from one node to another at one moment travels as one frame, so partitions, drops, delays,
/// duplicates and reordering hit them together. Nodes run node-level liveness heartbeats over the same links and
/// wake the quiescent followers of a peer they stopped hearing from, or that restarted.
///
/// Phases, faults and checks are those of the single-group `Simulation`, per group: election safety, log
/// matching, leader completeness, state machine safety, liveness after healing and linearizability of each
/// group's client history, plus group isolation (no message or log record of one group reaches another group's
/// engine or state machine). Everything random comes from the seed, so a seed replays bit for bit.
public final class MultiGroupSimulation {
    typealias Driver = NodeDriver<SelectedEngine, GroupStorage, GroupEndpoint, RegisterMachine>
    typealias Phase = Simulation.Phase

    public let options: SimulationOptions
    let groupNumbers: [Int]
    var checkers: [Int: SafetyChecker] = [:]
    /// Multi-Paxos worlds: each group's leaders' configurations against those its chosen values prescribe.
    var paxosConfigurations: [Int: PaxosConfigurationChecker] = [:]
    var stats = SimulationStats()
    var summaries: [Int: GroupSummary] = [:]
    var random: SplitMix64
    var now: UInt64 = 0
    var events = EventQueue<EventKind>()
    var network: SimulatedNetwork
    var nodes: [NodeID: HostNode] = [:]
    /// What each node's groups sent during the current event, by destination: flushed as one frame each. Kept
    /// apart from `nodes` because drivers inside `nodes` send while they are being mutated.
    var outboxes: [NodeID: [NodeID: Frame]] = [:]
    var tickIntervalMs: [NodeID: UInt64] = [:]
    var clients: [Client]
    var histories: [Int: [HistoryOperation]] = [:]
    var discarded: [Int: Set<Int>] = [:]
    var outstanding: [UInt64: (client: Int, group: Int, historyIndex: Int, node: NodeID)] = [:]
    var nextToken: UInt64 = 1
    var nextWrittenValue = 1
    var phase = Phase.faults
    /// Liveness after healing, per group: the probe writes issued and the index the first one committed at.
    var livenessProbes: [Int: (tokens: Set<UInt64>, index: LogIndex?, done: Bool)] = [:]
    /// Sharded worlds: the shard map, the mover and what clients cached of the map.
    var shards: ShardedWorld?
    var log: ((String) -> Void)?

    /// One simulated machine: its groups' replicas (none while it is down), its disk and its side of the links.
    struct HostNode {
        var replicas: [Int: Replica] = [:]
        let disk: SharedDisk
        var incarnation = 0
        var isUp = false
        /// Node liveness: when each peer was last heard from, and in which incarnation.
        var peers: [NodeID: (lastHeard: UInt64, incarnation: Int?)] = [:]
        var lastLivenessSent: UInt64 = 0
    }

    struct Replica {
        var driver: Driver
        /// The term in which this replica was last seen leading, to notice new leaderships.
        var leaderTerm: Term?
        var wasQuiescentLeader = false
        /// Whether the driver's inputs wait for a `.process` event (the end of the event-loop turn).
        var processingScheduled = false
    }

    /// Everything one node sends another at one moment: every group's messages, and its liveness heartbeat.
    struct Frame {
        var from: NodeID
        var to: NodeID
        var messages: [(group: Int, message: Message)] = []
        /// The sender's incarnation, when the frame carries its liveness heartbeat.
        var liveness: Int?
    }

    struct Client {
        /// Per group: the node that last committed a write for this client, where its reads go.
        var knownLeader: [Int: NodeID] = [:]
        /// Per group: the leader a refused write named, where the next write goes.
        var writeHint: [Int: NodeID] = [:]
        var isWaiting = false
    }

    public init(options: SimulationOptions, log: ((String) -> Void)? = nil) {
        precondition(options.groups >= 1, "a world has at least one group")
        self.options = options
        self.groupNumbers = Array(1...options.groups)
        self.random = SplitMix64(seed: options.seed ^ 0x3A_17_6E_0B)
        self.network = SimulatedNetwork(
            delayMsMax: options.messageDelayMsMax, dropRate: options.messageDropRate,
            duplicateRate: options.messageDuplicateRate, longDelayRate: options.messageLongDelayRate)
        self.clients = Array(repeating: Client(), count: options.clients)
        self.log = log
        for group in groupNumbers {
            checkers[group] = SafetyChecker(checksRaftLogs: options.consensus == .raft)
            paxosConfigurations[group] = PaxosConfigurationChecker(world: options)
            summaries[group] = GroupSummary(group: group)
            histories[group] = []
            discarded[group] = []
        }
        if options.sharded {
            // Keys move between groups, so one history holds every group's operations, checked per key.
            shards = ShardedWorld(groups: options.groups, hashKeys: options.keys + 3, clients: options.clients)
            histories = [0: []]
            discarded = [0: []]
        }
    }

    /// The history an operation on `group` joins: its group's, or in a sharded world the one history of all.
    func historyBucket(_ group: Int) -> Int { shards == nil ? group : 0 }

    var allNodeIDs: [NodeID] { (1...UInt64(options.clusterSize + options.spareNodes)).map { NodeID($0) } }

    func checker(_ group: Int) -> SafetyChecker { checkers[group]! }

    var violation: String? {
        for group in groupNumbers {
            if let violation = checkers[group]!.violation { return "group \(group): \(violation)" }
        }
        return nil
    }

    func fail(_ reason: String, group: Int) { checkers[group]!.fail(reason) }

    // MARK: Running

    public func run() -> SimulationReport {
        for id in allNodeIDs {
            let skew = options.clockSkew * (2 * Double(random.next() >> 11) / Double(1 << 53) - 1)
            tickIntervalMs[id] = max(1, UInt64((Double(options.tickIntervalMs) * (1 + skew)).rounded()))
            nodes[id] = HostNode(disk: SharedDisk(node: id, world: self))
            start(id)
        }
        for client in clients.indices { schedule(.clientNext(client), after: random.next(upperBound: 50)) }
        scheduleRecurring(.repartition, every: options.partitionIntervalMs)
        scheduleRecurring(.crash, every: options.crashIntervalMs)
        scheduleRecurring(.membershipChange, every: options.membershipChangeIntervalMs)
        scheduleRecurring(.leadershipTransfer, every: 2_500)
        schedule(.heal, after: options.faultPhaseMs)
        if shards != nil { scheduleNextMove() }
        let livenessDeadline = options.faultPhaseMs + options.livenessBoundMs
        // A move under way at the heal finishes in the draining phase: a few more steps' commits.
        let drainingDeadline = livenessDeadline + options.operationTimeoutMs + 100 + (shards == nil ? 0 : 2_000)

        while phase != .finished, violation == nil, let event = events.next() {
            now = event.time
            for checker in checkers.values { checker.now = now }
            stats.events += 1
            handle(event.kind)
            flushOutboxes()
            if phase == .liveness && now > livenessDeadline {
                let waiting = groupNumbers.filter { livenessProbes[$0]?.done != true }
                fail(
                    "liveness: no leader with a write applied on every voter \(options.livenessBoundMs) ms after "
                        + "healing (groups \(waiting)); \(clusterSummary(group: waiting.first ?? 1))",
                    group: waiting.first ?? 1)
            }
            let isQuiet = !clients.contains(where: \.isWaiting) && shards?.mover == nil
            if phase == .draining && (now > drainingDeadline || isQuiet) {
                phase = .finished
            }
        }
        return report()
    }

    func report() -> SimulationReport {
        stats.leaderElections = checkers.values.reduce(0) { $0 + $1.leaderElections }
        stats.membershipChanges = checkers.values.reduce(0) { $0 + $1.membershipChangesApplied }
        stats.entriesApplied = checkers.values.reduce(0) { $0 + Int($1.highestApplied.rawValue) }
        stats.highestTerm =
            nodes.values.flatMap { $0.replicas.values.map(\.driver.engine.term) }.max() ?? 0
        var report = SimulationReport(options: options, stats: stats, linearizability: nil, failure: violation)
        for group in groupNumbers {
            summaries[group]!.leaderElections = checker(group).leaderElections
            summaries[group]!.entriesApplied = Int(checker(group).highestApplied.rawValue)
        }
        guard report.failure == nil else {
            report.groups = groupNumbers.map { summaries[$0]! }
            return report
        }
        if let failure = checkFinalShards() {
            report.failure = "sharding: \(failure)"
            report.groups = groupNumbers.map { summaries[$0]! }
            return report
        }
        report.linearizability = .linearizable
        for bucket in histories.keys.sorted() {
            let checked = histories[bucket]!.enumerated().filter { !discarded[bucket]!.contains($0.offset) }
                .map(\.element)
            let verdict = LinearizabilityChecker().check(checked)
            // A sharded world's one history covers every group.
            for group in shards == nil ? [bucket] : groupNumbers { summaries[group]!.linearizability = verdict }
            if verdict != .linearizable && report.linearizability == .linearizable { report.linearizability = verdict }
            if report.failure == nil, let failure = verdict.failure(waived: options.waivesUndecidedLinearizability) {
                report.failure = shards == nil ? "group \(bucket): \(failure)" : "keys across groups: \(failure)"
            }
        }
        report.groups = groupNumbers.map { summaries[$0]! }
        return report
    }

    func clusterSummary(group: Int) -> String {
        nodes.keys.sorted().map { id in
            guard let replica = nodes[id]!.replicas[group] else { return "\(id): down" }
            let engine = replica.driver.engine
            let quiescent = engine.isQuiescent ? " quiescent" : ""
            return
                "\(id): \(engine.role)\(quiescent) \(engine.term) "
                + "leader \(engine.leaderHint.map(\.description) ?? "-") "
                + "commit \(engine.commitIndex) last \(engine.lastIndex) \(engine.configuration)"
        }.joined(separator: "; ")
    }

    func note(_ line: @autoclosure () -> String) {
        log?("[\(now) ms] \(line())")
    }

    // MARK: Events

    enum EventKind {
        case tick(NodeID, incarnation: Int)
        case deliver(Frame)
        case fsyncDone(NodeID, incarnation: Int)
        case process(NodeID, group: Int, incarnation: Int)
        case restart(NodeID)
        case crashNode(NodeID)
        case repartition, crash, membershipChange, leadershipTransfer
        indirect case recurring(EventKind, intervalMs: UInt64)
        case heal, livenessProbe
        case clientNext(Int)
        case clientTimeout(token: UInt64)
        case beginMove, moverRetry
        case moverTimeout(token: UInt64)
    }

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
            guard nodes[id]!.incarnation == incarnation, nodes[id]!.isUp else { return }
            for group in groupNumbers { withReplica(id, group) { $0.tick() } }
            tickLiveness(id)
            schedule(.tick(id, incarnation: incarnation), after: tickIntervalMs[id]!)
        case .deliver(let frame):
            receive(frame)
        case .fsyncDone(let id, let incarnation):
            guard nodes[id]!.disk.incarnation == incarnation else { return }
            for write in nodes[id]!.disk.completeSync() {
                withReplica(id, write.group) { $0.persisted(readyNumber: write.readyNumber) }
            }
        case .process(let id, let group, let incarnation):
            guard nodes[id]!.incarnation == incarnation, nodes[id]!.replicas[group] != nil else { return }
            nodes[id]!.replicas[group]!.processingScheduled = false
            withReplica(id, group) { $0.process() }
        case .restart(let id):
            guard !nodes[id]!.isUp else { return }
            start(id)
        case .recurring(let fault, let intervalMs):
            guard phase == .faults else { return }
            handle(fault)
            schedule(
                .recurring(fault, intervalMs: intervalMs), after: intervalMs / 2 + random.next(upperBound: intervalMs))
        case .repartition:
            stats.partitions += 1
            // Half the partitions cut off a node that leads a quiescent group, or else any group (as half the
            // crashes hit a leader): that is where a quiescent leader is deposed without hearing of it.
            func leading(quiescent: Bool) -> [NodeID] {
                allNodeIDs.filter { id in
                    nodes[id]!.replicas.values.contains {
                        $0.driver.engine.role == .leader && (!quiescent || $0.driver.engine.isQuiescent)
                    }
                }
            }
            let quiescentLeaders = leading(quiescent: true)
            let leaders = quiescentLeaders.isEmpty ? leading(quiescent: false) : quiescentLeaders
            if !leaders.isEmpty && random.chance(0.5) {
                let victim = leaders.randomElement(using: &random)!
                network.isolate(victim, from: allNodeIDs)
                note("partition: isolated leader \(victim)")
            } else {
                note("partition: \(network.repartition(allNodeIDs, random: &random))")
            }
        case .crash:
            let running = allNodeIDs.filter { nodes[$0]!.isUp }
            let leaders = running.filter { id in
                nodes[id]!.replicas.values.contains { $0.driver.engine.role == .leader }
            }
            if !leaders.isEmpty && random.chance(0.5) {
                crash(leaders.randomElement(using: &random)!)
            } else if let victim = running.randomElement(using: &random) {
                crash(victim)
            }
        case .crashNode(let id):
            guard phase == .faults, nodes[id]!.isUp else { return }
            crash(id)
        case .membershipChange:
            changeMembership(group: groupNumbers.randomElement(using: &random)!)
        case .leadershipTransfer:
            transferLeadership(group: groupNumbers.randomElement(using: &random)!)
        case .heal:
            heal()
        case .livenessProbe:
            probeLiveness()
        case .clientNext(let client):
            startOperation(client)
        case .beginMove:
            beginMove()
        case .moverRetry:
            proposeMoveStep()
        case .moverTimeout(let token):
            moverTimedOut(token: token)
        case .clientTimeout(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            stats.operationsUnknown += 1
            finish(client: operation.client)
        }
    }

    /// Runs `body` on a live replica's driver, then checks it and collects its completions.
    func withReplica(_ id: NodeID, _ group: Int, _ body: (inout Driver) -> Void) {
        guard nodes[id]?.replicas[group] != nil else { return }
        body(&nodes[id]!.replicas[group]!.driver)
        let turnEndDue = nodes[id]!.replicas[group]!.processingScheduled
        if nodes[id]!.replicas[group]!.driver.processNowOrAtTurnEnd(
            turnEndDue: turnEndDue, defers: { random.chance(options.processingDeferralRate) })
        {
            nodes[id]!.replicas[group]!.processingScheduled = true
            schedule(.process(id, group: group, incarnation: nodes[id]!.incarnation), after: random.next(upperBound: 2))
        }
        let engine = nodes[id]!.replicas[group]!.driver.engine
        engine.checkInvariants()
        let checker = checker(group)
        checker.recordProgress(of: engine, on: id)
        if engine.role == .leader {
            let isNew = nodes[id]!.replicas[group]!.leaderTerm != engine.term
            if isNew {
                note("group \(group): \(id) leads \(engine.term) with \(engine.configuration)")
                if phase == .faults && random.chance(options.newLeaderCrashRate) {
                    schedule(.crashNode(id), after: random.next(upperBound: 2 * options.diskLatencyMsMax + 2))
                }
            }
            checker.recordLeader(
                id, term: engine.term, isNew: isNew, hasEntry: engine.term(at:), firstIndex: engine.firstIndex)
            if let violation = paxosConfigurations[group]?.check(leader: engine, chosenValue: checker.chosenValue(at:))
            {
                checker.fail(violation)
            }
            nodes[id]!.replicas[group]!.leaderTerm = engine.term
        }
        let isQuiescentLeader = engine.role == .leader && engine.isQuiescent
        if isQuiescentLeader && !nodes[id]!.replicas[group]!.wasQuiescentLeader {
            summaries[group]!.quiescences += 1
            note("group \(group): \(id) quiesces at \(engine.commitIndex)")
        }
        nodes[id]!.replicas[group]!.wasQuiescentLeader = isQuiescentLeader
        for completion in nodes[id]!.replicas[group]!.driver.takeCompletions() {
            complete(completion, group: group, on: id)
        }
    }

    // MARK: Network, disk and liveness

    /// Called back by a replica's transport: the message waits in its node's outbox for the end of the event.
    func enqueue(_ messages: [Message], group: Int, from node: NodeID) {
        for message in messages {
            outboxes[node, default: [:]][message.to, default: Frame(from: node, to: message.to)].messages.append(
                (group, message))
        }
    }

    /// Sends each node's outbox, one frame per destination, each with one fate on its link.
    func flushOutboxes() {
        for id in allNodeIDs {
            guard let frames = outboxes.removeValue(forKey: id) else { continue }
            for destination in frames.keys.sorted() {
                let frame = frames[destination]!
                stats.framesSent += 1
                stats.messagesSent += frame.messages.count
                if Set(frame.messages.map(\.group)).count > 1 { stats.framesWithSeveralGroups += 1 }
                guard !network.isBlocked(from: id, to: destination) else { continue }
                for delay in network.deliveryDelays(random: &random) { schedule(.deliver(frame), after: delay) }
            }
        }
    }

    func receive(_ frame: Frame) {
        guard nodes[frame.to]!.isUp else { return }
        if let incarnation = frame.liveness {
            let known = nodes[frame.to]!.peers[frame.from]?.incarnation
            nodes[frame.to]!.peers[frame.from] = (now, incarnation)
            if let known, known != incarnation { wakeFollowers(of: frame.from, on: frame.to, because: "restarted") }
        }
        for (group, message) in frame.messages {
            guard nodes[frame.to]!.replicas[group] != nil else { continue }
            if let violation = GroupIsolation.violation(of: message, expected: group) {
                fail("group isolation: \(violation)", group: group)
                return
            }
            stats.messagesDelivered += 1
            withReplica(frame.to, group) { driver in
                if let error = driver.receive(message) {
                    self.fail("\(message.to) refused \(message): \(error)", group: group)
                }
            }
        }
    }

    /// Node liveness, once per tick: heartbeat the peers when due, and wake the quiescent followers of any peer
    /// not heard from within the timeout.
    func tickLiveness(_ id: NodeID) {
        if now >= nodes[id]!.lastLivenessSent + options.livenessIntervalMs {
            nodes[id]!.lastLivenessSent = now
            for peer in allNodeIDs where peer != id {
                outboxes[id, default: [:]][peer, default: Frame(from: id, to: peer)].liveness = nodes[id]!.incarnation
            }
        }
        for peer in allNodeIDs where peer != id {
            let lastHeard = nodes[id]!.peers[peer]?.lastHeard ?? 0
            if now > lastHeard + options.livenessTimeoutMs { wakeFollowers(of: peer, on: id, because: "silent") }
        }
    }

    func wakeFollowers(of leader: NodeID, on id: NodeID, because reason: String) {
        for group in groupNumbers {
            guard let engine = nodes[id]!.replicas[group]?.driver.engine, engine.isQuiescent,
                engine.role == .follower, engine.leaderHint == leader
            else { continue }
            summaries[group]!.livenessWakes += 1
            note("group \(group): \(id) wakes, its leader's node \(leader) is \(reason)")
            withReplica(id, group) { $0.wake() }
        }
    }

    func scheduleFsync(node: NodeID, incarnation: Int) {
        schedule(
            .fsyncDone(node, incarnation: incarnation), after: random.next(upperBound: options.diskLatencyMsMax + 1))
    }
}

/// A replica's outbound side: it hands messages to its node's outbox.
final class GroupEndpoint: MessageTransport {
    let node: NodeID
    let group: Int
    /// The node's disk, to check what the replica's messages promise against what it holds (`DurablePromises`).
    private let disk: SharedDisk
    private unowned let world: MultiGroupSimulation

    init(node: NodeID, group: Int, disk: SharedDisk, world: MultiGroupSimulation) {
        self.node = node
        self.group = group
        self.disk = disk
        self.world = world
    }

    func send(_ messages: [Message]) {
        for message in messages {
            if let broken = DurablePromises.broken(by: message, disk: disk.durableState(of: group)) {
                world.fail("durability: \(node) \(broken): \(message)", group: group)
            }
        }
        world.enqueue(messages, group: group, from: node)
    }
}
