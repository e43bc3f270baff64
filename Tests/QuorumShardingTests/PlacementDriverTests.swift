import QuorumConsensus
import Testing

@testable import QuorumSharding

@Suite("The placement driver")
struct PlacementDriverTests {
    let driver = PlacementDriver(settings: PlacementSettings(movesPerNodeMax: 4, deadAfterTicks: 100))

    /// Shards 1 to `count` of 3 replicas on nodes 1, 2 and 3, led by node 1, 2 and 3 in turn.
    func threeNodeShards(_ count: Int) -> [PlacementShard] {
        (1...count).map { (number: Int) -> PlacementShard in
            PlacementShard(
                id: GroupID(UInt64(number)), bytes: number * 1_000,
                replicas: ([1, 2, 3] as [NodeID]).map { PlacementReplica(node: $0) },
                leader: NodeID(UInt64(number % 3 + 1)))
        }
    }

    func nodes(_ ids: ClosedRange<UInt64>) -> [PlacementNode] { ids.map { PlacementNode(id: NodeID($0)) } }

    func membershipChanges(_ operations: [PlacementOperation]) -> [PlacementOperation] {
        operations.filter { if case .transferLeadership = $0 { false } else { true } }
    }

    @Test("a three-node cluster that loses a node changes no membership, before or after the delay: no node is spare")
    func threeNodesOneDead() {
        var cluster = PlacementCluster(nodes: nodes(1...3), shards: threeNodeShards(6))
        cluster.setState(.dead(sinceTick: 0), of: 3)
        cluster.now = 10_000
        #expect(membershipChanges(driver.operations(for: cluster)).isEmpty)
    }

    @Test("a spare node receives the dead node's replicas only once the delay has passed")
    func spareNodeAfterDelay() {
        // Eight shards over four nodes, each node holding six: node 3's shards each lack one other node.
        let shards = (1...8).map { (number: Int) -> PlacementShard in
            PlacementShard(
                id: GroupID(UInt64(number)), bytes: 1_000,
                replicas: (0...2).map { (offset: Int) in
                    PlacementReplica(node: NodeID(UInt64((number + offset) % 4 + 1)))
                },
                leader: NodeID(UInt64(number % 4 + 1)))
        }
        var cluster = PlacementCluster(nodes: nodes(1...4), shards: shards)
        cluster.setState(.dead(sinceTick: 5), of: 3)
        cluster.now = 104
        #expect(membershipChanges(driver.operations(for: cluster)).isEmpty)
        cluster.now = 105
        let expected = shards.filter { $0.replica(on: 3) != nil }.map { shard in
            let spare = (1...4).map { NodeID(UInt64($0)) }.first { shard.replica(on: $0) == nil }!
            return PlacementOperation.addLearner(shard: shard.id, node: spare, replacing: 3)
        }
        #expect(expected.count == 6)
        #expect(membershipChanges(driver.operations(for: cluster)) == expected)
    }

    @Test("a node excluded from a shard (it held a replica that was removed) never receives it again")
    func excludedNodes() {
        // As above, but node 3's shards may not go to the one node that could take them: nothing is replaced.
        var shards = (1...8).map { (number: Int) -> PlacementShard in
            PlacementShard(
                id: GroupID(UInt64(number)), bytes: 1_000,
                replicas: (0...2).map { (offset: Int) in
                    PlacementReplica(node: NodeID(UInt64((number + offset) % 4 + 1)))
                },
                leader: NodeID(UInt64(number % 4 + 1)))
        }
        for index in shards.indices {
            shards[index].excludedNodes = Set(
                (1...4).map { NodeID(UInt64($0)) }.filter { shards[index].replica(on: $0) == nil })
        }
        var cluster = PlacementCluster(nodes: nodes(1...4), shards: shards)
        cluster.setState(.dead(sinceTick: 5), of: 3)
        cluster.now = 105
        #expect(membershipChanges(driver.operations(for: cluster)).isEmpty)
        // A new node may take them instead (as many at once as its move budget allows).
        var grown = PlacementCluster(nodes: nodes(1...5), shards: shards)
        grown.setState(.dead(sinceTick: 5), of: 3)
        grown.now = 105
        let added = membershipChanges(driver.operations(for: grown)).compactMap { operation -> NodeID? in
            if case .addLearner(_, let node, replacing: 3) = operation { node } else { nil }
        }
        #expect(added.count == 4 && added.allSatisfy { $0 == 5 }, "\(added)")
    }

    @Test("a node joining a cluster without shards gets nothing to do")
    func joinEmptyCluster() {
        var cluster = PlacementCluster(nodes: nodes(1...1), shards: [])
        cluster.add(PlacementNode(id: 2))
        #expect(driver.operations(for: cluster).isEmpty)
    }

    @Test("a one-node cluster that grows to four gives every shard three voters, balanced, without losing a quorum")
    func growFromOneNode() {
        let shards = (1...12).map { (number: Int) -> PlacementShard in
            PlacementShard(id: GroupID(UInt64(number)), bytes: 1_000, replicas: [PlacementReplica(node: 1)], leader: 1)
        }
        var simulation = PlacementSimulation(
            cluster: PlacementCluster(nodes: nodes(1...1), shards: shards), driver: driver, bytesPerTick: 500, seed: 1)
        #expect(simulation.runUntilSettled(ticksMax: 100) == 1)
        for node in 2...4 as ClosedRange<UInt64> { simulation.join(NodeID(node)) }
        #expect(simulation.runUntilSettled(ticksMax: 1_000) != nil)
        #expect(simulation.cluster.shards.values.allSatisfy { $0.voterCount == 3 && $0.replicas.count == 3 })
        #expect((1...4).map { simulation.cluster.replicaCount(on: NodeID($0)) } == [9, 9, 9, 9])
        #expect((1...4).map { simulation.cluster.leaderCount(of: NodeID($0)) } == [3, 3, 3, 3])
        #expect(simulation.quorumLosses.isEmpty)
    }

    @Test("a draining node hands over its leaderships and replicas and ends holding nothing")
    func drain() {
        let cluster = PlacementCluster(nodes: nodes(1...5), shards: threeNodeShards(10))
        var simulation = PlacementSimulation(cluster: cluster, driver: driver, bytesPerTick: 1_000, seed: 1)
        simulation.drain(1)
        let first = driver.operations(for: simulation.cluster)
        // The draining node's smallest shards go first, as many as its move budget allows.
        #expect(
            first.filter { if case .addLearner(_, _, 1) = $0 { true } else { false } }.map(\.shard) == [1, 2, 3, 4])
        #expect(simulation.runUntilSettled(ticksMax: 1_000) != nil)
        #expect(simulation.cluster.replicaCount(on: 1) == 0)
        #expect(simulation.cluster.leaderCount(of: 1) == 0)
        #expect(simulation.quorumLosses.isEmpty)
        #expect(simulation.cluster.shards.values.allSatisfy { $0.voterCount == 3 })
    }

    @Test("leader counts are balanced by transfers alone when replica counts already are")
    func leadersByTransfers() {
        let shards = threeNodeShards(9).map { shard in
            var led = shard
            led.leader = 1
            return led
        }
        var cluster = PlacementCluster(nodes: nodes(1...3), shards: shards)
        let operations = driver.operations(for: cluster)
        #expect(membershipChanges(operations).isEmpty)
        for operation in operations { cluster.apply(operation) }
        #expect((1...3).map { cluster.leaderCount(of: NodeID($0)) } == [3, 3, 3])
        #expect(driver.operations(for: cluster).isEmpty)
    }

    @Test("moves under way stay within the per-node and cluster-wide budgets, those already under way counted")
    func moveBudgets() {
        let budgeted = PlacementDriver(settings: PlacementSettings(movesPerNodeMax: 2, movesMax: 3))
        var cluster = PlacementCluster(nodes: nodes(1...5), shards: threeNodeShards(12))
        var moves: [PlacementOperation] = []
        for _ in 1...2 {
            let started = membershipChanges(budgeted.operations(for: cluster))
            for operation in started { cluster.apply(operation) }
            moves += started
        }
        // Nodes 4 and 5 may each receive two, but the cluster allows three at once, and none finished in between.
        #expect(moves.count == 3)
        #expect(cluster.moving.count == 3)
        for node in 1...5 as ClosedRange<UInt64> {
            let involving = cluster.moving.filter { id in
                let move = cluster.shards[id]!.move!
                return move.to == NodeID(node) || move.from == NodeID(node)
            }
            #expect(involving.count <= 2)
        }
    }

    @Test("a move runs learner, promotion, leadership handed over, removal; a move to a dead node is cancelled")
    func moveSteps() {
        var cluster = PlacementCluster(nodes: nodes(1...4), shards: threeNodeShards(1))
        cluster.apply(.addLearner(shard: 1, node: 4, replacing: 2))
        #expect(driver.operations(for: cluster).isEmpty, "the learner has not caught up")
        cluster.markCaughtUp(4, in: 1)
        #expect(driver.operations(for: cluster) == [.promote(shard: 1, node: 4)])
        cluster.apply(.promote(shard: 1, node: 4))
        #expect(driver.operations(for: cluster) == [.transferLeadership(shard: 1, to: 1)])
        cluster.apply(.transferLeadership(shard: 1, to: 1))
        #expect(driver.operations(for: cluster) == [.removeReplica(shard: 1, node: 2)])
        cluster.apply(.removeReplica(shard: 1, node: 2))
        #expect(cluster.moving.isEmpty)
        #expect(cluster.shards[1]!.replicas.map(\.node).sorted() == [1, 3, 4])

        cluster.apply(.addLearner(shard: 1, node: 2, replacing: 4))
        cluster.setState(.dead(sinceTick: 0), of: 2)
        #expect(driver.operations(for: cluster) == [.removeReplica(shard: 1, node: 2)])
    }

    @Test("the replaced replica stays while removing it would leave too few caught-up voters")
    func neverBelowQuorum() {
        var cluster = PlacementCluster(nodes: nodes(1...4), shards: threeNodeShards(1))
        cluster.apply(.addLearner(shard: 1, node: 4, replacing: 3))
        cluster.markCaughtUp(4, in: 1)
        cluster.apply(.promote(shard: 1, node: 4))
        cluster.setLeader(1, of: 1)
        // Only nodes 1 and 3 are caught up: without node 3, node 1 alone would be, short of a quorum of two.
        cluster.markCaughtUp(2, in: 1, false)
        cluster.markCaughtUp(4, in: 1, false)
        #expect(driver.operations(for: cluster).isEmpty)
        cluster.markCaughtUp(2, in: 1)
        #expect(driver.operations(for: cluster) == [.removeReplica(shard: 1, node: 3)])
    }

    @Test(
        "a shard with a voter too many and no move loses one: down first, then lagging, then the busiest node's; never its leader"
    )
    func excessReplicas() {
        // Shard 1 has four voters, as when group 1's leadership changed before a move removed what it replaced.
        func cluster(_ adjust: (inout PlacementCluster) -> Void = { _ in }) -> PlacementCluster {
            var shards = threeNodeShards(3)
            shards[0] = PlacementShard(
                id: 1, bytes: 1_000, replicas: ([1, 2, 3, 4] as [NodeID]).map { PlacementReplica(node: $0) }, leader: 4)
            var cluster = PlacementCluster(nodes: nodes(1...4), shards: shards)
            adjust(&cluster)
            return cluster
        }
        func removal(_ cluster: PlacementCluster) -> PlacementOperation? {
            driver.operations(for: cluster).first { $0.shard == 1 }
        }
        // Nodes 1 to 3 hold three replicas each, node 4 one: the highest id of the busiest goes.
        #expect(removal(cluster()) == .removeReplica(shard: 1, node: 3))
        #expect(removal(cluster { $0.setState(.dead(sinceTick: 0), of: 1) }) == .removeReplica(shard: 1, node: 1))
        #expect(removal(cluster { $0.markCaughtUp(2, in: 1, false) }) == .removeReplica(shard: 1, node: 2))
        // The leader stays, however busy its node.
        var led = cluster()
        led.setLeader(3, of: 1)
        #expect(removal(led) == .removeReplica(shard: 1, node: 2))
        // Applied, the shard has three voters and nothing more is removed.
        var after = cluster()
        after.apply(.removeReplica(shard: 1, node: 3))
        #expect(membershipChanges(driver.operations(for: after)).allSatisfy { $0.shard != 1 })
    }

    @Test("the last caught-up voter of a shard of one replica is never removed")
    func lastCaughtUpReplica() {
        let shard = PlacementShard(
            id: 1, bytes: 10, replicationFactor: 1, replicas: [PlacementReplica(node: 1)], leader: 1)
        var cluster = PlacementCluster(nodes: nodes(1...2), shards: [shard])
        cluster.apply(.addLearner(shard: 1, node: 2, replacing: 1))
        cluster.markCaughtUp(2, in: 1)
        cluster.apply(.promote(shard: 1, node: 2))
        cluster.markCaughtUp(2, in: 1, false)
        #expect(driver.operations(for: cluster).isEmpty)
        #expect(driver.keepsQuorum(.removeReplica(shard: 1, node: 1), on: cluster.shards[1]!, in: cluster) == false)
    }

    @Test("equal clusters give equal operations, whatever order they were described in")
    func deterministic() {
        let shards = (1...40).map { (number: Int) -> PlacementShard in
            PlacementShard(
                id: GroupID(UInt64(number)), bytes: (number * 7_919) % 1_000,
                replicas: (1...3).map { (offset: Int) in
                    PlacementReplica(node: NodeID(UInt64((offset + number) % 3 + 1)))
                },
                leader: NodeID(UInt64(number % 2 + 1)))
        }
        let forward = PlacementCluster(nodes: nodes(1...6), shards: shards)
        let backward = PlacementCluster(nodes: nodes(1...6).reversed(), shards: shards.reversed())
        let operations = driver.operations(for: forward)
        #expect(!operations.isEmpty)
        #expect(driver.operations(for: backward) == operations)
    }
}
