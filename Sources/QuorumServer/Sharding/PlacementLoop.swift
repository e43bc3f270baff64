import Logging
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumWire

/// Runs the placement driver (`PlacementDriver`, pure) for the cluster: on the node that leads group 1, every
/// `interval` it gathers every member's groups (with each group's membership as its leader has it: one request per
/// node, however many groups), and which nodes answer,
/// asks the driver for the next operations, and carries them out as a client would (create a replica, add it as a
/// learner that its leader promotes once caught up, remove the replica it replaces, transfer leaderships). So
/// groups spread over nodes that join, and the replicas of a node that stays dead past `deadAfter` are made again
/// elsewhere. Group 1 is left alone: its members are the cluster's.
///
/// The driver keeps no state; the one thing it cannot see in the groups, which replica a move replaces, is kept
/// here. When group 1's leadership changes mid-move, the new leader's driver finds a group with a voter too many
/// and no move, and removes one. With authentication on it pauses: its requests would need a root identity of their
/// own.
final class PlacementLoop: @unchecked Sendable {
    // @unchecked Sendable: `run()` is the only task that touches the mutable state below.
    private let host: NodeHost
    private let driver: PlacementDriver
    private let interval: Duration
    private let replicationFactor: Int
    private let logger: Logger
    private var round = 0
    /// The round at which each node stopped answering.
    private var deadSince: [NodeID: Int] = [:]
    /// The moves this driver began, by group: the replica each replaces (nil: none) and where it goes.
    private var moves: [GroupID: PlacementMove] = [:]
    /// The nodes whose replica of a group was removed: they refuse to host it again (their tombstone).
    private var removed: [GroupID: Set<NodeID>] = [:]

    init(host: NodeHost, deadAfter: Duration, interval: Duration = .seconds(1), replicationFactor: Int = 3) {
        self.host = host
        self.interval = interval
        self.replicationFactor = replicationFactor
        let rounds = Int((deadAfter / interval).rounded(.up))
        driver = PlacementDriver(settings: PlacementSettings(deadAfterTicks: max(rounds, 1)))
        logger = NodeHost.logger("quorum.placement", node: host.configuration.node)
    }

    /// Rounds that find nothing to do come less and less often, up to this far apart.
    static let idleIntervalMax = Duration.seconds(8)

    /// Works every `interval` until the task is cancelled. While every node answers, no move is under way and the
    /// driver has nothing to do, the pause between rounds doubles, up to `idleIntervalMax`, so that an idle cluster
    /// of many groups costs little; anything else brings rounds back to every `interval` (a silent node's delay is
    /// counted in rounds, so it is counted at that pace: one that dies while rounds are far apart is noticed at most
    /// `idleIntervalMax` late).
    func run() async {
        var pause = interval
        while !Task.isCancelled {
            try? await Task.sleep(for: pause)
            guard let members = try? await host.loop.submit({ self.membersIfLeading() }).get(), !members.isEmpty
            else {
                pause = interval
                continue
            }
            round += 1
            let cluster = await gather(members)
            let operations = driver.operations(for: cluster)
            for operation in operations { await carryOut(operation, members: members) }
            let idle = operations.isEmpty && cluster.moving.isEmpty && deadSince.isEmpty
            pause = idle ? min(pause * 2, Self.idleIntervalMax) : interval
        }
    }

    /// The client address of every member of the cluster if this node leads group 1 (and authentication is off),
    /// else nil.
    private func membersIfLeading() -> [NodeID: String]? {
        guard host.clusterGroup.groupStatus.leader == host.configuration.node, !host.accessPolicy.enabled else {
            return nil
        }
        var members: [NodeID: String] = [:]
        for node in host.addressBook.members {
            if let address = host.addressBook.address(of: node) { members[node] = address.clientAddress }
        }
        return members
    }

    /// The cluster as the driver sees it. A group whose leader does not answer, or whose view does not fit together
    /// (a replica on a node that is no member, two learners), is left out of this round.
    private func gather(_ members: [NodeID: String]) async -> PlacementCluster {
        let probe = QuorumClient(endpoints: members.values.sorted(), timeout: .seconds(2))
        var hosted: [NodeID: [GroupStatus]] = [:]
        for (node, endpoint) in members { hosted[node] = try? await probe.groups(of: endpoint) }
        await probe.close()
        for node in members.keys {
            if hosted[node] == nil { deadSince[node] = deadSince[node] ?? round } else { deadSince[node] = nil }
        }
        // Grouped once: filtering every replica for each group made a round quadratic in the groups.
        let replicasByGroup = Dictionary(
            grouping: hosted.flatMap { node, groups in groups.map { (node: node, status: $0) } }, by: \.status.group)
        var shards: [PlacementShard] = []
        for (group, views) in replicasByGroup.sorted(by: { $0.key < $1.key }) where group != NodeHost.clusterGroup {
            guard
                let leader = views.filter({ $0.status.role == "leader" }).max(by: { $0.status.term < $1.status.term }),
                let shard = shard(group, leader: leader.node, views: views, members: members)
            else { continue }
            shards.append(shard)
        }
        let nodes = members.keys.map { node in
            PlacementNode(id: node, state: deadSince[node].map { .dead(sinceTick: $0) } ?? .live)
        }
        return PlacementCluster(nodes: nodes, shards: shards, now: round)
    }

    /// The group as its leader's status (gathered with every other group's, one request per node) describes it.
    private func shard(
        _ group: GroupID, leader: NodeID, views: [(node: NodeID, status: GroupStatus)], members: [NodeID: String]
    ) -> PlacementShard? {
        guard let membership = views.first(where: { $0.node == leader })?.status, membership.leader == leader,
            membership.learners.count <= 1
        else { return nil }
        let listed = membership.voters + membership.learners
        guard listed.allSatisfy({ members[$0] != nil }), Set(listed).count == listed.count else { return nil }
        func isCaughtUp(_ node: NodeID) -> Bool {
            guard let applied = views.first(where: { $0.node == node })?.status.appliedIndex else { return false }
            return membership.commitIndex.rawValue <= applied.rawValue + 1_000
        }
        let replicas =
            membership.voters.map { PlacementReplica(node: $0, role: .voter, isCaughtUp: isCaughtUp($0)) }
            + membership.learners.map { PlacementReplica(node: $0, role: .learner, isCaughtUp: isCaughtUp($0)) }
        let nodes = Set(replicas.map(\.node))
        var move: PlacementMove?
        if let learner = membership.learners.first {
            move = PlacementMove(from: moves[group]?.to == learner ? moves[group]?.from : nil, to: learner)
        } else if let begun = moves[group], nodes.contains(begun.to), let from = begun.from, nodes.contains(from) {
            move = begun
        } else {
            moves[group] = nil
        }
        if let from = move?.from, !nodes.contains(from) { move?.from = nil }
        var shard = PlacementShard(
            id: group, bytes: Int(clamping: membership.commitIndex.rawValue), replicationFactor: replicationFactor,
            replicas: replicas, leader: leader, move: move)
        shard.excludedNodes = removed[group] ?? []
        return shard
    }

    private func carryOut(_ operation: PlacementOperation, members: [NodeID: String]) async {
        let client = QuorumClient(endpoints: members.values.sorted(), timeout: .seconds(5), group: operation.shard)
        do throws(QuorumClientError) {
            switch operation {
            case .addLearner(let group, let node, let replacing):
                guard let endpoint = members[node] else { break }
                // An empty replica first, which the leader then catches up; one left by an earlier try is reused.
                do {
                    _ = try await client.createReplica(on: endpoint)
                } catch .refused(let message) where message.hasPrefix("this node already hosts") {
                } catch {
                    if case .refused(let message) = error, GroupRefusal.saysNotHosted(message) {
                        removed[group, default: []].insert(node)
                    }
                    throw error
                }
                _ = try await client.addMember(node, address: "", staysLearner: false)
                moves[group] = PlacementMove(from: replacing, to: node)
            case .promote:
                // The leader promotes a learner added this way by itself once it has caught up.
                break
            case .removeReplica(let group, let node):
                _ = try await client.removeMember(node)
                removed[group, default: []].insert(node)
                if moves[group]?.from == node || moves[group]?.to == node { moves[group] = nil }
            case .transferLeadership(_, let node):
                _ = try await client.transferLeadership(to: node)
            }
            if case .promote = operation {} else { logger.notice("placement: \(operation)") }
        } catch {
            logger.info("placement: \(operation) did not happen this round: \(error)")
        }
        await client.close()
    }
}
