import QuorumConsensus

extension PlacementDriver {
    func moveLeadershipsOffDrainingNodes(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        for node in cluster.nodeIDs where cluster.nodes[node]!.state == .draining {
            for id in cluster.shardsLed(by: node) {
                guard plan.canTransferLeadership else { return }
                let shard = cluster.shards[id]!
                guard shard.move == nil, !plan.isTouched(id), let target = leadershipTarget(of: shard, in: cluster, plan)
                else { continue }
                plan.add(.transferLeadership(shard: id, to: target), on: shard)
            }
        }
    }

    /// Moves leaderships from the nodes leading more than their share to voters leading two or more fewer: leader
    /// counts end close together, without a copy.
    ///
    /// Nodes are visited from the one leading the most, each through its shards once, and the round ends at the
    /// first that can hand over none: looking further, through every node's shards, would cost each round a scan of
    /// every shard while a new node, leading none and holding few replicas, keeps the counts apart. The next rounds
    /// go on as it receives replicas.
    func balanceLeaderships(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        let nodes = plan.acceptingNodes
        guard !nodes.isEmpty else { return }
        let leaderTotal = nodes.reduce(0) { $0 + plan.leaderCounts[$1]! }
        let share = (leaderTotal + nodes.count - 1) / nodes.count
        let sources = nodes.filter { plan.leaderCounts[$0]! > share }.sorted { fewer($1, than: $0, plan.leaderCounts) }
        for source in sources {
            var handedOver = false
            for id in cluster.shardsLed(by: source) {
                guard plan.canTransferLeadership, plan.leaderCounts[source]! > share else { break }
                let shard = cluster.shards[id]!
                guard shard.move == nil, !plan.isTouched(id), let target = leadershipTarget(of: shard, in: cluster, plan),
                    plan.leaderCounts[source]! - plan.leaderCounts[target]! >= 2
                else { continue }
                plan.add(.transferLeadership(shard: id, to: target), on: shard)
                handedOver = true
            }
            if !handedOver { return }
        }
    }
}
