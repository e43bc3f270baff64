import QuorumConsensus

/// One round of the placement driver: the operations chosen so far, and the replica and leader counts and move
/// budgets they lead to, so that each decision sees those made before it in the same round.
struct PlacementPlan {
    let settings: PlacementSettings
    /// The nodes that may receive replicas and leaderships, in id order.
    let acceptingNodes: [NodeID]
    private(set) var operations: [PlacementOperation] = []
    /// Shards with an operation this round: one membership change at a time per group.
    private(set) var touched: Set<GroupID> = []
    /// Replicas per node once the moves under way and chosen have ended: a move's source counts one fewer, its
    /// target one more.
    private(set) var replicaCounts: [NodeID: Int] = [:]
    private(set) var leaderCounts: [NodeID: Int] = [:]
    private var movesByNode: [NodeID: Int] = [:]
    private var moveCount = 0
    private var leaderTransferCount = 0

    init(_ cluster: PlacementCluster, settings: PlacementSettings) {
        self.settings = settings
        acceptingNodes = cluster.nodeIDs.filter(cluster.acceptsReplicas)
        for node in cluster.nodes.keys {
            replicaCounts[node] = cluster.replicaCount(on: node)
            leaderCounts[node] = cluster.leaderCount(of: node)
            movesByNode[node] = 0
        }
        for id in cluster.moving {
            // The target's replica is already counted, as a learner or a voter: only the source is yet to change.
            countMove(cluster.shards[id]!.move!, targetCounted: true)
        }
    }

    var canStartMove: Bool { moveCount < settings.movesMax }
    var canTransferLeadership: Bool { leaderTransferCount < settings.leaderTransfersMax }

    func hasMoveBudget(_ node: NodeID) -> Bool { movesByNode[node, default: 0] < settings.movesPerNodeMax }

    func isTouched(_ shard: GroupID) -> Bool { touched.contains(shard) }

    /// Adds `operation` on `shard` (as it was before the round) to the round.
    mutating func add(_ operation: PlacementOperation, on shard: PlacementShard) {
        precondition(operation.shard == shard.id)
        precondition(touched.insert(shard.id).inserted, "two operations for \(shard.id) in one round")
        operations.append(operation)
        switch operation {
        case .addLearner(_, let node, let replacing):
            precondition(canStartMove)
            countMove(PlacementMove(from: replacing, to: node), targetCounted: false)
        case .transferLeadership(_, let node):
            leaderTransferCount += 1
            leaderCounts[node, default: 0] += 1
            if let leader = shard.leader { leaderCounts[leader, default: 0] -= 1 }
        case .promote, .removeReplica: break
        }
    }

    private mutating func countMove(_ move: PlacementMove, targetCounted: Bool) {
        moveCount += 1
        movesByNode[move.to, default: 0] += 1
        if !targetCounted { replicaCounts[move.to, default: 0] += 1 }
        if let from = move.from {
            movesByNode[from, default: 0] += 1
            replicaCounts[from, default: 0] -= 1
        }
    }
}
