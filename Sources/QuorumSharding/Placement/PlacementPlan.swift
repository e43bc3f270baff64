import QuorumConsensus

/// One round of the placement driver: the operations chosen so far, and the replica and leader counts and move
/// budgets they lead to, so that each decision sees those made before it in the same round.
///
/// Counts are arrays indexed by the cluster's node slots: the driver compares them for every node several times a
/// round, every round.
struct PlacementPlan {
    let settings: PlacementSettings
    /// The slots of the nodes that may receive replicas and leaderships, in id order.
    let acceptingSlots: [Int]
    private(set) var operations: [PlacementOperation] = []
    /// Shards with an operation this round: one membership change at a time per group.
    private(set) var touched: Set<GroupID> = []
    /// Replicas per node once the moves under way and chosen have ended: a move's source counts one fewer, its
    /// target one more.
    private(set) var replicaCounts: [Int]
    private(set) var leaderCounts: [Int]
    private var movesBySlot: [Int]
    private var moveCount = 0
    private var leaderTransferCount = 0
    private let cluster: PlacementCluster

    init(_ cluster: PlacementCluster, settings: PlacementSettings) {
        self.settings = settings
        self.cluster = cluster
        let slots = cluster.nodeIDs.indices
        acceptingSlots = slots.filter { cluster.node(atSlot: $0).acceptsReplicas }
        replicaCounts = slots.map(cluster.replicaCount(atSlot:))
        leaderCounts = slots.map(cluster.leaderCount(atSlot:))
        movesBySlot = Array(repeating: 0, count: slots.count)
        for id in cluster.moving {
            // The target's replica is already counted, as a learner or a voter: only the source is yet to change.
            countMove(cluster.shards[id]!.move!, targetCounted: true)
        }
    }

    var canStartMove: Bool { moveCount < settings.movesMax }
    /// Whether no move is under way or chosen.
    var isQuiet: Bool { moveCount == 0 }
    var canTransferLeadership: Bool { leaderTransferCount < settings.leaderTransfersMax }

    func hasMoveBudget(atSlot slot: Int) -> Bool { movesBySlot[slot] < settings.movesPerNodeMax }

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
            leaderCounts[cluster.slot(of: node)] += 1
            if let leader = shard.leader { leaderCounts[cluster.slot(of: leader)] -= 1 }
        case .removeReplica(_, let node) where shard.move == nil:
            // A replica too many goes; one a move replaces was counted with the move.
            replicaCounts[cluster.slot(of: node)] -= 1
        case .promote, .removeReplica: break
        }
    }

    private mutating func countMove(_ move: PlacementMove, targetCounted: Bool) {
        moveCount += 1
        let target = cluster.slot(of: move.to)
        movesBySlot[target] += 1
        if !targetCounted { replicaCounts[target] += 1 }
        if let from = move.from {
            let source = cluster.slot(of: from)
            movesBySlot[source] += 1
            replicaCounts[source] -= 1
        }
    }
}

/// Orders slots by a count, then by slot (that is, node id), so that every choice among equals is the same.
func fewer(_ a: Int, than b: Int, _ counts: [Int]) -> Bool {
    // Not a tuple comparison: that one is generic, and this runs for every node several times a round.
    counts[a] != counts[b] ? counts[a] < counts[b] : a < b
}
