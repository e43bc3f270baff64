import QuorumConsensus

extension PlacementDriver {
    func replaceReplicasOfDeadAndDrainingNodes(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        let nodeIDs = cluster.nodeIDs
        let dead = nodeIDs.filter { node in
            guard case .dead(let since) = cluster.nodes[node]!.state else { return false }
            return cluster.now - since >= settings.deadAfterTicks
        }
        let draining = nodeIDs.filter { cluster.nodes[$0]!.state == .draining }
        // The dead first: their shards are a failure away from losing their quorum.
        for node in dead + draining {
            for order in cluster.replicaOrder(on: node) {
                // A draining node sends the snapshots itself, so it spends its budget; a dead one sends nothing.
                guard plan.canStartMove, dead.contains(node) || plan.hasMoveBudget(node) else { break }
                let shard = cluster.shards[order.id]!
                guard isMovable(shard, in: cluster, plan), let target = newReplicaNode(for: shard, plan)
                else { continue }
                plan.add(.addLearner(shard: shard.id, node: target, replacing: node), on: shard)
            }
        }
    }

    func addMissingReplicas(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        for id in cluster.underReplicated.sorted() {
            guard plan.canStartMove else { return }
            let shard = cluster.shards[id]!
            guard isMovable(shard, in: cluster, plan), let target = newReplicaNode(for: shard, plan)
            else { continue }
            plan.add(.addLearner(shard: id, node: target, replacing: nil), on: shard)
        }
    }

    /// Moves replicas from the node that will hold the most to the one that will hold the fewest while they differ
    /// by two or more, so that every move brings both closer to the mean and none is undone later.
    func rebalanceReplicas(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        var exhausted: Set<NodeID> = []
        while plan.canStartMove {
            // One pass rather than filters, max and min: it runs at least once every round.
            var source: NodeID?
            var target: NodeID?
            for node in plan.acceptingNodes where plan.hasMoveBudget(node) {
                if !exhausted.contains(node), source.map({ fewer($0, than: node, plan.replicaCounts) }) ?? true {
                    source = node
                }
                if target.map({ fewer(node, than: $0, plan.replicaCounts) }) ?? true { target = node }
            }
            guard let source, let target, source != target,
                plan.replicaCounts[source]! - plan.replicaCounts[target]! >= 2
            else { return }
            guard let shard = smallestMovableShard(from: source, to: target, in: cluster, plan) else {
                exhausted.insert(source)
                continue
            }
            plan.add(.addLearner(shard: shard.id, node: target, replacing: source), on: shard)
        }
    }

    private func smallestMovableShard(
        from source: NodeID, to target: NodeID, in cluster: PlacementCluster, _ plan: PlacementPlan
    ) -> PlacementShard? {
        for order in cluster.replicaOrder(on: source) {
            let shard = cluster.shards[order.id]!
            if shard.replica(on: target) == nil && isMovable(shard, in: cluster, plan) { return shard }
        }
        return nil
    }

    /// Whether a move of `shard` may begin this round: none is under way or chosen, and its group can commit one.
    private func isMovable(_ shard: PlacementShard, in cluster: PlacementCluster, _ plan: PlacementPlan) -> Bool {
        shard.move == nil && !plan.isTouched(shard.id) && shard.canCommit(where: cluster.isUp)
    }

    /// The node accepting replicas, with move budget left and no replica of `shard`, that will hold the fewest.
    private func newReplicaNode(for shard: PlacementShard, _ plan: PlacementPlan) -> NodeID? {
        plan.acceptingNodes
            .filter { plan.hasMoveBudget($0) && shard.replica(on: $0) == nil }
            .min { fewer($0, than: $1, plan.replicaCounts) }
    }
}

/// Orders nodes by a count, then by id, so that every choice among equals is the same.
func fewer(_ a: NodeID, than b: NodeID, _ counts: [NodeID: Int]) -> Bool {
    (counts[a]!, a) < (counts[b]!, b)
}
