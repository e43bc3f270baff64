import QuorumConsensus

/// The placement driver alone in a model cluster, for its tests and its benchmark: operations take effect as soon
/// as the driver asks for them, a learner catches up `bytes / bytesPerTick` ticks after it was added, and a
/// group whose leader's node dies elects a caught-up voter on a live node at once. Deterministic for a seed.
///
/// It checks one invariant as it goes: no operation leaves a shard that had a quorum of caught-up voters without
/// one. Node deaths are the caller's; `shardsWithoutQuorum` says what they cost.
public struct PlacementSimulation: Sendable {
    public private(set) var cluster: PlacementCluster
    public let driver: PlacementDriver
    /// How fast one learner receives its snapshot.
    public let bytesPerTick: Int
    /// The bytes of every learner added, cancelled or not.
    public private(set) var bytesMoved = 0
    public private(set) var movesStarted = 0
    public private(set) var leadershipTransfers = 0
    /// Every operation that took a shard below a quorum of caught-up voters, with its tick: empty unless the driver
    /// is wrong.
    public private(set) var quorumLosses: [String] = []
    /// The learners that catch up at each tick.
    private var catchUps: [Int: [(shard: GroupID, node: NodeID)]] = [:]
    private var generator: SplitMix64

    public init(cluster: PlacementCluster, driver: PlacementDriver, bytesPerTick: Int, seed: UInt64) {
        precondition(bytesPerTick > 0)
        self.cluster = cluster
        self.driver = driver
        self.bytesPerTick = bytesPerTick
        generator = SplitMix64(seed: seed)
    }

    /// A cluster of `nodeCount` live nodes and `shardCount` shards of three replicas on distinct nodes drawn at
    /// random, each led by its first, of sizes from `bytesMin` to 64 times that: as many in each doubling.
    public init(
        nodeCount: Int, shardCount: Int, bytesMin: Int, driver: PlacementDriver, bytesPerTick: Int, seed: UInt64
    ) {
        precondition(nodeCount >= 3)
        var generator = SplitMix64(seed: seed)
        let nodes = (1...nodeCount).map { PlacementNode(id: NodeID(UInt64($0))) }
        let shards = (0..<shardCount).map { number in
            var chosen: [NodeID] = []
            while chosen.count < 3 {
                let node = nodes[Int.random(in: 0..<nodeCount, using: &generator)].id
                if !chosen.contains(node) { chosen.append(node) }
            }
            let octave = bytesMin << Int.random(in: 0..<6, using: &generator)
            let bytes = octave + Int.random(in: 0..<octave, using: &generator)
            return PlacementShard(
                id: GroupID(UInt64(number + 1)), bytes: bytes, replicas: chosen.map { PlacementReplica(node: $0) },
                leader: chosen[0])
        }
        self.init(
            cluster: PlacementCluster(nodes: nodes, shards: shards), driver: driver, bytesPerTick: bytesPerTick,
            seed: generator.next())
    }

    /// Whether no move is under way and no dead node waits for its delay to run out (at this tick or later: the
    /// round at `now` has not run yet).
    public var isQuiet: Bool { cluster.moving.isEmpty && catchUps.isEmpty && deadline(after: cluster.now - 1) == nil }

    public var shardsWithoutQuorum: [GroupID] {
        cluster.shards.values.filter { !cluster.hasQuorum($0) }.map(\.id).sorted()
    }

    /// One round at the current tick: the learners due catch up and the driver's operations take effect. Time then
    /// moves on one tick, or, if the driver asked for nothing, straight to the next tick at which something changes
    /// (a learner catching up, a dead node's delay running out), but not past `limit`: the driver is a function of
    /// the cluster, which nothing else changes in between, so the ticks skipped would ask for nothing either.
    /// - Returns: how many operations the driver asked for.
    @discardableResult
    public mutating func step(limit: Int = .max) -> Int {
        for (shard, node) in catchUps.removeValue(forKey: cluster.now) ?? []
        where cluster.shards[shard]?.move?.to == node && cluster.isUp(node) {
            cluster.markCaughtUp(node, in: shard)
        }
        let operations = driver.operations(for: cluster)
        for operation in operations { apply(operation) }
        let next = operations.isEmpty ? nextEventTick ?? cluster.now + 1 : cluster.now + 1
        cluster.now = min(next, max(limit, cluster.now + 1))
        return operations.count
    }

    /// The first tick after now at which a learner catches up or a dead node's delay runs out.
    private var nextEventTick: Int? {
        [deadline(after: cluster.now), catchUps.keys.min()].compactMap { $0 }.min()
    }

    /// The first tick after `tick` at which the delay of a dead node still holding replicas runs out.
    private func deadline(after tick: Int) -> Int? {
        cluster.nodeIDs.compactMap { node -> Int? in
            guard case .dead(let since) = cluster.node(node)!.state, cluster.replicaCount(on: node) > 0 else { return nil }
            let deadline = since + driver.settings.deadAfterTicks
            return deadline > tick ? deadline : nil
        }.min()
    }

    /// Runs until `ticks` ticks have passed.
    /// - Returns: how many operations the driver asked for.
    @discardableResult
    public mutating func run(ticks: Int) -> Int {
        let end = cluster.now + ticks
        var operationCount = 0
        while cluster.now < end { operationCount += step(limit: end) }
        return operationCount
    }

    /// Runs until a round asks for nothing and the simulation `isQuiet`.
    /// - Returns: the ticks that took, or nil if it did not settle within `ticksMax`.
    public mutating func runUntilSettled(ticksMax: Int) -> Int? {
        let start = cluster.now
        while cluster.now - start < ticksMax {
            if step(limit: start + ticksMax) == 0 && isQuiet { return cluster.now - start }
        }
        return nil
    }

    public mutating func join(_ node: NodeID) { cluster.add(PlacementNode(id: node)) }

    public mutating func drain(_ node: NodeID) { cluster.setState(.draining, of: node) }

    /// Kills `node` now; the groups it led elect another leader.
    public mutating func kill(_ node: NodeID) {
        cluster.setState(.dead(sinceTick: cluster.now), of: node)
        for shard in cluster.shardsLed(by: node) { electLeader(of: shard) }
    }

    /// A lower bound on the bytes that must move for `newNodes`, holding nothing, to receive their share: each
    /// must end with at least the mean number of replicas rounded down (the driver leaves no two nodes further
    /// apart than one), of distinct shards, and a shard can give at most its replication factor of its replicas
    /// to them. So the bound is the sum of that many of the smallest shards, each counted at most that often.
    public func bytesToFill(_ newNodes: [NodeID]) -> Int {
        let accepting = cluster.nodeIDs.filter(cluster.acceptsReplicas)
        let replicaCount = cluster.shards.values.reduce(0) { $0 + $1.replicationFactor }
        var needed = newNodes.count * (replicaCount / accepting.count)
        var bytes = 0
        for shard in cluster.shards.values.sorted(by: { ($0.bytes, $0.id) < ($1.bytes, $1.id) }) where needed > 0 {
            let copies = min(needed, shard.replicationFactor, newNodes.count)
            bytes += copies * shard.bytes
            needed -= copies
        }
        return bytes
    }

    private mutating func apply(_ operation: PlacementOperation) {
        let hadQuorum = cluster.hasQuorum(cluster.shards[operation.shard]!)
        cluster.apply(operation)
        let shard = cluster.shards[operation.shard]!
        if hadQuorum && !cluster.hasQuorum(shard) {
            quorumLosses.append("tick \(cluster.now): \(operation) left \(shard.id) without a quorum")
        }
        switch operation {
        case .addLearner(let id, let node, _):
            bytesMoved += shard.bytes
            movesStarted += 1
            catchUps[cluster.now + max(1, (shard.bytes + bytesPerTick - 1) / bytesPerTick), default: []].append((id, node))
        case .transferLeadership:
            leadershipTransfers += 1
        case .promote, .removeReplica:
            if shard.leader == nil { electLeader(of: shard.id) }
        }
    }

    private mutating func electLeader(of id: GroupID) {
        let shard = cluster.shards[id]!
        let electable = shard.replicas.filter { $0.role == .voter && $0.isCaughtUp && cluster.isUp($0.node) }
        cluster.setLeader(electable.randomElement(using: &generator)?.node, of: id)
    }
}
