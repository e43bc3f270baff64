import QuorumConsensus

extension PlacementDriver {
    func replaceReplicasOfDeadAndDrainingNodes(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        var dead: [Int] = []
        var draining: [Int] = []
        for slot in cluster.nodeIDs.indices {
            switch cluster.node(atSlot: slot).state {
            case .live: continue
            case .dead(let since): if cluster.now - since >= settings.deadAfterTicks { dead.append(slot) }
            case .draining: draining.append(slot)
            }
        }
        // The dead first: their shards are a failure away from losing their quorum.
        for slot in dead + draining {
            let node = cluster.nodeIDs[slot]
            for order in cluster.replicaOrder(atSlot: slot) {
                // A dead node takes no part in the copy, so only the receivers' budgets bound its replacements.
                guard plan.canStartMove, dead.contains(slot) || plan.hasMoveBudget(atSlot: slot) else { break }
                let shard = cluster.shards[order.id]!
                guard isMovable(shard, in: cluster, plan) else { continue }
                guard let target = newReplicaNode(for: shard, in: cluster, plan) else {
                    // Without a node that may still receive, looking at the node's other shards is wasted.
                    if plan.acceptingSlots.allSatisfy({ !plan.hasMoveBudget(atSlot: $0) }) { return }
                    continue
                }
                plan.add(.addLearner(shard: shard.id, node: target, replacing: node), on: shard)
            }
        }
    }

    func addMissingReplicas(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        for id in cluster.underReplicated.sorted() {
            guard plan.canStartMove else { return }
            let shard = cluster.shards[id]!
            guard isMovable(shard, in: cluster, plan), let target = newReplicaNode(for: shard, in: cluster, plan)
            else { continue }
            plan.add(.addLearner(shard: id, node: target, replacing: nil), on: shard)
        }
    }

    /// Moves replicas from the node that will hold the most to the one that will hold the fewest while they differ
    /// by two or more, so that every move brings both closer to the mean and none is undone later.
    func rebalanceReplicas(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        var exhausted: Set<Int> = []
        while plan.canStartMove {
            // One pass rather than filters, max and min: it runs at least once every round.
            var source: Int?
            var target: Int?
            for slot in plan.acceptingSlots where plan.hasMoveBudget(atSlot: slot) {
                if !exhausted.contains(slot), source.map({ fewer($0, than: slot, plan.replicaCounts) }) ?? true {
                    source = slot
                }
                if target.map({ fewer(slot, than: $0, plan.replicaCounts) }) ?? true { target = slot }
            }
            guard let source, let target, plan.replicaCounts[source] - plan.replicaCounts[target] >= 2 else { return }
            let sourceNode = cluster.nodeIDs[source]
            let targetNode = cluster.nodeIDs[target]
            guard let shard = smallestMovableShard(atSlot: source, to: targetNode, in: cluster, plan) else {
                exhausted.insert(source)
                continue
            }
            plan.add(.addLearner(shard: shard.id, node: targetNode, replacing: sourceNode), on: shard)
        }
    }

    private func smallestMovableShard(
        atSlot source: Int, to target: NodeID, in cluster: PlacementCluster, _ plan: PlacementPlan
    ) -> PlacementShard? {
        for order in cluster.replicaOrder(atSlot: source) {
            let shard = cluster.shards[order.id]!
            if shard.canReceive(on: target) && isMovable(shard, in: cluster, plan) { return shard }
        }
        return nil
    }

    /// Whether a move of `shard` may begin this round: none is under way or chosen, and its group can commit one.
    private func isMovable(_ shard: PlacementShard, in cluster: PlacementCluster, _ plan: PlacementPlan) -> Bool {
        shard.move == nil && !plan.isTouched(shard.id) && shard.canCommit(where: cluster.isUp)
    }

    /// The node accepting replicas, with move budget left, that may receive `shard` and will hold the fewest.
    private func newReplicaNode(for shard: PlacementShard, in cluster: PlacementCluster, _ plan: PlacementPlan) -> NodeID? {
        var best: Int?
        for slot in plan.acceptingSlots
        where plan.hasMoveBudget(atSlot: slot) && shard.canReceive(on: cluster.nodeIDs[slot]) {
            if best.map({ fewer(slot, than: $0, plan.replicaCounts) }) ?? true { best = slot }
        }
        return best.map { cluster.nodeIDs[$0] }
    }
}
