import QuorumConsensus

/// One world's parameters, all drawn from its seed ("swarm testing", as TigerBeetle's VOPR does), so the
/// seeds together cover gentle and brutal worlds and any one of them replays exactly.
public struct SimulationOptions: Sendable, CustomStringConvertible {
    public var seed: UInt64
    public var clusterSize: Int
    /// Nodes beyond the initial voters that membership changes add and remove.
    public var spareNodes = 2
    public var clients: Int
    public var keys: Int
    public var tickIntervalMs: UInt64 = 10
    /// How far a node's clock may run fast or slow: each node ticks every `tickIntervalMs × (1 ± clockSkew)`.
    /// Raft's safety must not depend on clocks; lease-based shortcuts do, and this exposes them.
    public var clockSkew: Double
    public var messageDelayMsMax: UInt64
    public var messageDropRate: Double
    public var messageDuplicateRate: Double
    /// Chance that a message is held back for a long time, which reorders it behind later ones.
    public var messageLongDelayRate: Double
    public var diskLatencyMsMax: UInt64
    /// Mean time between partition changes; 0 disables partitions.
    public var partitionIntervalMs: UInt64
    /// Mean time between crashes; half of them hit the leader, so every world sees leaders change.
    public var crashIntervalMs: UInt64
    public var membershipChangeIntervalMs: UInt64
    /// Chance that a freshly elected leader crashes within a few milliseconds: flapping leaders leave
    /// entries of several terms half-replicated, the situation of Raft's Figure 8.
    public var newLeaderCrashRate: Double
    public var operationTimeoutMs: UInt64 = 1_500
    public var faultPhaseMs: UInt64 = 12_000
    /// After healing, a leader must be elected and a write committed on every voter within this time.
    public var livenessBoundMs: UInt64 = 8_000
    public var snapshotIntervalEntries: Int
    public var entriesRetainedAfterSnapshot: Int
    public var maxEntriesPerAppend: Int
    public var maxInflightAppends: Int
    /// Consensus groups every node hosts. Above one, `MultiGroupSimulation` runs the world: quiescence on, one
    /// shared disk per node, one link per node pair, and node-level liveness waking quiescent followers.
    public var groups = 1
    /// Chance that a driver's inputs wait for the end of the simulated event-loop turn, to be processed together
    /// with whatever else arrives by then (as the server does), instead of at once.
    public var processingDeferralRate: Double
    /// Multi-group worlds: each node sends every other a liveness heartbeat this often, and wakes the quiescent
    /// followers of a peer it has not heard from for `livenessTimeoutMs` (or that restarted).
    public var livenessIntervalMs: UInt64 = 25
    public var livenessTimeoutMs: UInt64 = 100
    /// Multi-group worlds: keys are sharded over the groups by a shard map (hash slots, and one range-sharded
    /// keyspace) and moved between them — slot moves, splits and merges — while the faults run.
    public var sharded = false
    /// Sharded worlds: the most time between one move finishing and the next beginning.
    public var moveIntervalMs: UInt64 = 300
    package var injectedBug: InjectedBug?
    /// Whether a history the linearizability search cannot decide within its budget passes. Off: an undecided
    /// history fails the run, since it was not checked. Waive only a seed known to need it, and say why.
    public var waivesUndecidedLinearizability = false
    /// Single-group worlds: the registers live in QuorumStore's real `KeyValueStore`, and the log carries store
    /// proposals (`StoreRegisters`), so the store's codec, transactions, revisions, snapshots and restore run under
    /// every fault, each answer checked against a plain register's.
    public var runsStore = false
    /// The engine the single-group world runs. Set by the caller, never drawn: the world's other parameters are the
    /// same for a seed whichever engine runs it, and a Raft seed replays exactly as before engines were selectable.
    public var consensus = ConsensusKind.raft
    /// Deliberate Multi-Paxos bugs, for worlds with `consensus == .paxos`.
    package var injectedPaxosBug: InjectedPaxosBug?
    /// Multi-Paxos's α: a membership change governs the slots this many after its own. Drawn apart from the world's
    /// other parameters, so that every seed's world stays as it was; at most the pipeline's depth, so that the no-ops
    /// a leader fills the window with after a change do not stall a world that sends one slot at a time.
    public var paxosConfigurationDelay: Int
    /// Single-group worlds: 0 to serialise each snapshot inline, as the driver does by default; otherwise the node
    /// hands it off, as the server does to keep its event loop free, and gets the bytes back up to this many
    /// milliseconds later, while entries keep being applied and a leader's snapshot may overtake it. Drawn apart
    /// from the world's other parameters, so that every seed's world is otherwise as it was.
    public var snapshotSerializationMsMax: UInt64
    /// Single-group worlds: 1 to send a snapshot as one message; otherwise a snapshot travels as the server sends a
    /// frame larger than the receiver's frame limit, in parts on one connection that may break part-way, the limit
    /// being set so that it takes this many parts. Drawn apart from the world's other parameters, so that every
    /// seed's world is otherwise as it was.
    public var snapshotParts: Int

    public init(seed: UInt64) {
        self.seed = seed
        var random = SplitMix64(seed: seed)
        func pick<T>(_ choices: [T]) -> T { choices[Int(random.next(upperBound: UInt64(choices.count)))] }
        clusterSize = pick([3, 5])
        clients = pick([2, 3, 4, 5])
        keys = pick([1, 2, 3, 5])
        messageDelayMsMax = pick([2, 5, 10, 30])
        messageDropRate = pick([0, 0.01, 0.05, 0.15])
        messageDuplicateRate = pick([0, 0.02, 0.1])
        messageLongDelayRate = pick([0, 0.01, 0.05])
        diskLatencyMsMax = pick([1, 3, 10, 40])
        partitionIntervalMs = pick([0, 800, 2_000, 4_000])
        crashIntervalMs = pick([1_000, 2_500, 4_000])
        membershipChangeIntervalMs = pick([1_000, 2_000, 3_000])
        snapshotIntervalEntries = pick([16, 64, 256])
        entriesRetainedAfterSnapshot = pick([0, 4, 32])
        maxEntriesPerAppend = pick([1, 4, 64])
        maxInflightAppends = pick([1, 4, 64])
        newLeaderCrashRate = pick([0, 0, 0, 0.1, 0.3])
        clockSkew = pick([0, 0.1, 0.4, 0.7])
        processingDeferralRate = pick([0, 0.5, 0.9])
        var delays = SplitMix64(seed: seed ^ 0xA1FA_DE1A)
        let delay = [2, 8, 32][Int(delays.next(upperBound: UInt64(3)))]
        paxosConfigurationDelay = max(2, min(delay, maxEntriesPerAppend * maxInflightAppends))
        var serialization = SplitMix64(seed: seed ^ 0x5E_41A1_15E)
        snapshotSerializationMsMax = [0, 5, 50][Int(serialization.next(upperBound: UInt64(3)))]
        var parts = SplitMix64(seed: seed ^ 0x9A_2785)
        snapshotParts = [1, 4, 16][Int(parts.next(upperBound: UInt64(3)))]
    }

    /// A world of `groups` consensus groups per node. The world's other parameters are drawn from the seed as for
    /// one group; a multi-group world's fault phase is a quarter as long, since every node does the work of many
    /// groups.
    public init(seed: UInt64, groups: Int) {
        self.init(seed: seed)
        self.groups = groups
        guard groups > 1 else { return }
        // Crashes and membership changes twice as often, in a fault phase a quarter as long. Partitions keep their
        // pace: a partition must outlast node liveness's timeout and an election to find a quiescent group's
        // leader on the wrong side.
        faultPhaseMs = 3_000
        // A client waits out a timeout when its node is cut off; with a client more per two groups, most groups
        // still see traffic while some clients wait.
        clients += (groups + 1) / 2
        partitionIntervalMs = min(partitionIntervalMs, 2_000)
        crashIntervalMs /= 2
        membershipChangeIntervalMs /= 2
    }

    /// The group count a multi-group seed runs with, 2 to 8, drawn apart from the world's other parameters so
    /// that every seed's single-group world stays as it was.
    public static func drawnGroupCount(seed: UInt64) -> Int {
        var random = SplitMix64(seed: seed ^ 0x6E0_0B5)
        return 2 + Int(random.next(upperBound: UInt64(7)))
    }

    /// The engine options each node runs with in this world.
    func raftOptions(for node: NodeID, incarnation: Int, group: Int) -> RaftOptions {
        var options = raftOptions(for: node, incarnation: incarnation)
        guard groups > 1 else { return options }
        options.quiescence = true
        options.randomSeed = options.randomSeed &+ UInt64(group) &* 104_729
        return options
    }

    /// The engine options each node runs with in this world.
    func raftOptions(for node: NodeID, incarnation: Int) -> RaftOptions {
        var options = RaftOptions()
        options.electionTimeoutTicks = 10
        options.heartbeatIntervalTicks = 2
        options.snapshotIntervalEntries = snapshotIntervalEntries
        options.entriesRetainedAfterSnapshot = entriesRetainedAfterSnapshot
        options.maxEntriesPerAppend = maxEntriesPerAppend
        options.maxInflightAppends = maxInflightAppends
        options.initialConfiguration = Configuration(voters: Set((1...UInt64(clusterSize)).map { NodeID($0) }))
        options.randomSeed = seed &+ UInt64(incarnation) &* 7919
        options.injectedBug = injectedBug
        return options
    }

    /// The Multi-Paxos options each node runs with in this world: the same timeouts, batching and snapshot policy as
    /// Raft's, the pipeline's depth in slots being Raft's inflight appends times its batch.
    /// A group's Multi-Paxos options in a multi-group world: each group draws its own timeouts.
    func paxosOptions(for node: NodeID, incarnation: Int, group: Int) -> PaxosOptions {
        var options = paxosOptions(for: node, incarnation: incarnation)
        guard groups > 1 else { return options }
        options.randomSeed = options.randomSeed &+ UInt64(group) &* 104_729
        return options
    }

    func paxosOptions(for node: NodeID, incarnation: Int) -> PaxosOptions {
        var options = PaxosOptions()
        options.electionTimeoutTicks = 10
        options.heartbeatIntervalTicks = 2
        options.snapshotIntervalEntries = snapshotIntervalEntries
        options.entriesRetainedAfterSnapshot = entriesRetainedAfterSnapshot
        options.maxEntriesPerAccept = maxEntriesPerAppend
        options.maxInflightSlots = maxEntriesPerAppend * maxInflightAppends
        options.initialConfiguration = Configuration(voters: Set((1...UInt64(clusterSize)).map { NodeID($0) }))
        options.configurationDelaySlots = paxosConfigurationDelay
        options.randomSeed = seed &+ UInt64(incarnation) &* 7919
        options.injectedBug = injectedPaxosBug
        return options
    }

    public var description: String {
        var text = "seed=\(seed) nodes=\(clusterSize)+\(spareNodes) clients=\(clients) keys=\(keys) skew=\(clockSkew)"
        text += " delay≤\(messageDelayMsMax)ms drop=\(messageDropRate) dup=\(messageDuplicateRate)"
        text += " longDelay=\(messageLongDelayRate) disk≤\(diskLatencyMsMax)ms"
        text +=
            " deferral=\(processingDeferralRate) partitionEvery=\(partitionIntervalMs)ms crashEvery=\(crashIntervalMs)ms newLeaderCrash=\(newLeaderCrashRate)"
        text += " membershipEvery=\(membershipChangeIntervalMs)ms snapshotEvery=\(snapshotIntervalEntries)"
        text += " retain=\(entriesRetainedAfterSnapshot) batch=\(maxEntriesPerAppend) inflight=\(maxInflightAppends)"
        if groups > 1 {
            text += " groups=\(groups) faultPhase=\(faultPhaseMs)ms"
        } else {
            if snapshotSerializationMsMax > 0 { text += " serialise≤\(snapshotSerializationMsMax)ms" }
            if snapshotParts > 1 { text += " snapshotParts=\(snapshotParts)" }
        }
        if sharded { text += " sharded moveEvery≤\(moveIntervalMs)ms" }
        if runsStore { text += " store" }
        if let injectedBug { text += " bug=\(injectedBug.rawValue)" }
        if consensus != .raft { text += " consensus=\(consensus.rawValue)" }
        if let injectedPaxosBug { text += " bug=\(injectedPaxosBug.rawValue)" }
        return text
    }
}
