import QuorumConsensus

/// Decides where shard replicas live: the placement driver's pure decision logic. The metadata group's leader
/// would run it: it hands over the cluster as it knows it and carries out the operations returned, each a
/// membership change or leadership transfer in one shard's group, and asks again as they take effect.
///
/// Each round, in this order:
/// 1. moves under way go on: a caught-up learner is promoted, then the replica it replaces is removed (after its
///    leadership is handed over); a move whose target died or is leaving is cancelled. A shard with more voters
///    than its replication factor and no move (a move whose driver lost track of what it replaced, when group 1's
///    leadership changed) loses one: on a node that is down, else one that lags, else on a draining node, else on
///    the node holding the most replicas, never its leader;
/// 2. replicas on nodes dead for `deadAfterTicks`, then on draining nodes, are replaced elsewhere;
/// 3. shards with fewer replicas than their replication factor gain one;
/// 4. replicas move from the nodes with the most to those with the fewest, while they differ by two or more;
///    a node's smallest shards move first, so a new node's share costs as few bytes as it can;
/// 5. leaderships move off draining nodes, then from the nodes leading most to those leading fewest, by
///    transfers, which copy nothing.
///
/// New replicas go to the node that will hold the fewest. Steps 2 to 4 begin moves within the budgets of
/// `settings`, counting the moves under way.
/// The driver never asks for an operation that would leave a shard with fewer caught-up voters, on nodes that are
/// up, than a quorum of its replication factor (or a majority of its voters, during a move); and it touches no
/// shard that cannot commit a membership change. It keeps no state between rounds: the moves under way are part
/// of the cluster it is given, and equal clusters give equal operations.
public struct PlacementDriver: Sendable {
    public var settings: PlacementSettings

    public init(settings: PlacementSettings = PlacementSettings()) {
        self.settings = settings
    }

    /// The operations to carry out next, at most one per shard.
    public func operations(for cluster: PlacementCluster) -> [PlacementOperation] {
        var plan = PlacementPlan(cluster, settings: settings)
        continueMoves(in: cluster, &plan)
        removeExcessReplicas(in: cluster, &plan)
        replaceReplicasOfDeadAndDrainingNodes(in: cluster, &plan)
        addMissingReplicas(in: cluster, &plan)
        rebalanceReplicas(in: cluster, &plan)
        moveLeadershipsOffDrainingNodes(in: cluster, &plan)
        balanceLeaderships(in: cluster, &plan)
        return plan.operations
    }

    private func continueMoves(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        for id in cluster.moving.sorted() {
            let shard = cluster.shards[id]!
            let move = shard.move!
            let target = shard.replica(on: move.to)!
            if target.role == .learner {
                if !cluster.acceptsReplicas(move.to) {
                    plan.add(.removeReplica(shard: id, node: move.to), on: shard)
                } else if target.isCaughtUp && shard.canCommit(where: cluster.isUp) {
                    plan.add(.promote(shard: id, node: move.to), on: shard)
                }
            } else if let from = move.from {
                if shard.leader == from {
                    if let successor = leadershipTarget(of: shard, in: cluster, plan) {
                        plan.add(.transferLeadership(shard: id, to: successor), on: shard)
                    }
                } else if keepsQuorum(.removeReplica(shard: id, node: from), on: shard, in: cluster) {
                    plan.add(.removeReplica(shard: id, node: from), on: shard)
                }
            }
        }
    }

    private func removeExcessReplicas(in cluster: PlacementCluster, _ plan: inout PlacementPlan) {
        for id in cluster.shards.keys.sorted() {
            let shard = cluster.shards[id]!
            guard shard.move == nil, shard.voterCount > shard.replicationFactor, !plan.isTouched(id),
                shard.canCommit(where: cluster.isUp)
            else { continue }
            // The first in this order goes: down, lagging, draining, then the most replicas (the highest id on a tie).
            let candidates = shard.replicas.filter { $0.role == .voter && $0.node != shard.leader }
            let ranked = candidates.max { a, b in
                Self.removalRank(a, in: cluster, plan) < Self.removalRank(b, in: cluster, plan)
            }
            guard let victim = ranked?.node,
                keepsQuorum(.removeReplica(shard: id, node: victim), on: shard, in: cluster)
            else { continue }
            plan.add(.removeReplica(shard: id, node: victim), on: shard)
        }
    }

    /// How much a voter should be the one removed from a shard with a voter too many: larger goes first.
    private static func removalRank(_ replica: PlacementReplica, in cluster: PlacementCluster, _ plan: PlacementPlan)
        -> (Int, Int, Int, Int, Int)
    {
        let slot = cluster.slot(of: replica.node)
        return (
            cluster.isUp(replica.node) ? 0 : 1, replica.isCaughtUp ? 0 : 1,
            cluster.acceptsReplicas(replica.node) ? 0 : 1,
            plan.replicaCounts[slot], slot
        )
    }

    /// Whether `shard` still has a quorum of caught-up voters after `operation`.
    func keepsQuorum(_ operation: PlacementOperation, on shard: PlacementShard, in cluster: PlacementCluster) -> Bool {
        var after = shard
        after.apply(operation)
        return cluster.hasQuorum(after)
    }

    /// The caught-up voter of `shard` on a node accepting replicas that leads the fewest shards, other than the
    /// current leader; ties go to the lowest node id.
    func leadershipTarget(of shard: PlacementShard, in cluster: PlacementCluster, _ plan: PlacementPlan) -> NodeID? {
        // A loop rather than filter, map and min: it runs for every shard a busy node leads, every round.
        var best: Int?
        for replica in shard.replicas where replica.role == .voter && replica.isCaughtUp && replica.node != shard.leader
        {
            let slot = cluster.slot(of: replica.node)
            guard cluster.node(atSlot: slot).acceptsReplicas else { continue }
            if best.map({ fewer(slot, than: $0, plan.leaderCounts) }) ?? true { best = slot }
        }
        return best.map { cluster.nodeIDs[$0] }
    }
}
