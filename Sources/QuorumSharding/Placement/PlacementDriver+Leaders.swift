import QuorumConsensus

extension PlacementDriver {
    func moveLeadershipsOffDrainingNodes(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        for slot in cluster.nodeIDs.indices where cluster.node(atSlot: slot).state == .draining {
            for id in cluster.shardsLed(atSlot: slot) {
                guard plan.canTransferLeadership else { return }
                let shard = cluster.shards[id]!
                guard shard.move == nil, !plan.isTouched(id), let target = leadershipTarget(of: shard, in: cluster, plan)
                else { continue }
                plan.add(.transferLeadership(shard: id, to: target), on: shard)
            }
        }
    }

    /// Moves leaderships from the nodes leading more than their share (the mean, rounded down) to voters leading two
    /// or more fewer: leader counts end close together, without a copy.
    ///
    /// Nodes are visited from the one leading the most, each through its shards once. While replicas are moving, the
    /// round ends at the first node that can hand over none: a new node, leading none and holding few replicas,
    /// keeps the counts apart for the whole of a rebalance, and looking further would then cost every round a scan
    /// of every shard. Once nothing moves, every node is visited, so that a round asking for nothing means the
    /// leaders are as balanced as transfers can make them.
    func balanceLeaderships(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        let slots = plan.acceptingSlots
        guard !slots.isEmpty else { return }
        let leaderTotal = slots.reduce(0) { $0 + plan.leaderCounts[$1] }
        let share = leaderTotal / slots.count
        // A source needs a voter leading two fewer, so none leading fewer than two more than the least can be one.
        let fewest = slots.map { plan.leaderCounts[$0] }.min()!
        let sources = slots.filter { plan.leaderCounts[$0] > max(share, fewest + 1) }
            .sorted { fewer($1, than: $0, plan.leaderCounts) }
        for source in sources {
            var handedOver = false
            for id in cluster.shardsLed(atSlot: source) {
                guard plan.canTransferLeadership, plan.leaderCounts[source] > share else { break }
                let shard = cluster.shards[id]!
                guard shard.move == nil, !plan.isTouched(id), let target = leadershipTarget(of: shard, in: cluster, plan),
                    plan.leaderCounts[source] - plan.leaderCounts[cluster.slot(of: target)] >= 2
                else { continue }
                plan.add(.transferLeadership(shard: id, to: target), on: shard)
                handedOver = true
            }
            if !handedOver && !plan.isQuiet { return }
        }
    }
}
