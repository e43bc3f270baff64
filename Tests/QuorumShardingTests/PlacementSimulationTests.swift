import QuorumConsensus
import Testing

@testable import QuorumSharding

/// The placement driver alone in the model cluster, at the scale: 100 nodes and 10,000 shards of three
/// replicas, 1 to 64 MiB each, learners receiving 1 MiB a tick.
///
/// A shard's quorum changes only when an operation takes effect, which the simulation checks every time
/// (`quorumLosses`), or when a node dies, which the test checks after each death: together, no shard is ever below
/// a quorum of caught-up voters.
@Suite("The placement driver in a simulated cluster")
struct PlacementSimulationTests {
    static let mebibyte = 1 << 20

    static func simulation(seed: UInt64) -> PlacementSimulation {
        PlacementSimulation(
            nodeCount: 100, shardCount: 10_000, bytesMin: mebibyte, driver: PlacementDriver(), bytesPerTick: mebibyte,
            seed: seed)
    }

    @Test(
        "100 nodes, 10,000 shards: after joins, deaths and drains, replicas and leaders per node end within 5% of the mean, no shard loses its quorum, and the bytes moved stay near the least possible",
        arguments: [1, 2, 3] as [UInt64])
    func joinsDeathsAndDrains(seed: UInt64) {
        var simulation = Self.simulation(seed: seed)
        #expect(simulation.runUntilSettled(ticksMax: 5_000) != nil)
        expectBalanced(simulation.cluster)

        // Ten nodes join: they must receive their share and only it, smallest shards first.
        let joining = (101...110).map { NodeID(UInt64($0)) }
        for node in joining { simulation.join(node) }
        let joinBound = simulation.bytesToFill(joining)
        let bytesBeforeJoin = simulation.bytesMoved
        let movesBeforeJoin = simulation.movesStarted
        #expect(simulation.runUntilSettled(ticksMax: 5_000) != nil)
        let joinBytes = simulation.bytesMoved - bytesBeforeJoin
        // Each new node ends with the mean rounded down or up (272 or 273); measured 272 moves each, the least.
        #expect(simulation.movesStarted - movesBeforeJoin <= joining.count * (30_000 / 110 + 1))
        // Measured 1.06x to 1.07x over seeds 1-3: the driver moves each busiest node's smallest shards, which are
        // not quite the cluster's smallest. The margin is for other seeds.
        #expect(Double(joinBytes) <= 1.1 * Double(joinBound), "moved \(joinBytes) bytes, at least \(joinBound) needed")
        expectBalanced(simulation.cluster)

        // Three nodes die, one after another once the previous one's shards are whole again.
        for node in [NodeID(7), NodeID(42), NodeID(105)] {
            let lost = simulation.cluster.replicas(on: node).reduce(0) { $0 + simulation.cluster.shards[$1]!.bytes }
            simulation.kill(node)
            #expect(simulation.shardsWithoutQuorum.isEmpty)
            let movesBeforeDeath = simulation.movesStarted
            let bytesBeforeDeath = simulation.bytesMoved
            simulation.run(ticks: simulation.driver.settings.deadAfterTicks)
            #expect(simulation.movesStarted == movesBeforeDeath, "no copy before the node is declared dead")
            #expect(simulation.runUntilSettled(ticksMax: 5_000) != nil)
            #expect(simulation.cluster.replicaCount(on: node) == 0)
            // Every lost replica must be copied once; measured exactly that, and no rebalancing move after it.
            let repairBytes = simulation.bytesMoved - bytesBeforeDeath
            #expect(Double(repairBytes) <= 1.02 * Double(lost), "moved \(repairBytes) bytes to replace \(lost)")
            expectBalanced(simulation.cluster)
        }

        // Two nodes leave: what they held must be copied once (measured 1.0000x to 1.0002x).
        let leaving = [NodeID(1), NodeID(110)]
        let held = leaving.flatMap(simulation.cluster.replicas(on:)).reduce(0) {
            $0 + simulation.cluster.shards[$1]!.bytes
        }
        for node in leaving { simulation.drain(node) }
        let bytesBeforeDrain = simulation.bytesMoved
        #expect(simulation.runUntilSettled(ticksMax: 5_000) != nil)
        let drainBytes = simulation.bytesMoved - bytesBeforeDrain
        #expect(Double(drainBytes) <= 1.02 * Double(held), "moved \(drainBytes) bytes to drain \(held)")
        for node in leaving {
            #expect(simulation.cluster.replicaCount(on: node) == 0)
            #expect(simulation.cluster.leaderCount(of: node) == 0)
        }
        expectBalanced(simulation.cluster)
        #expect(simulation.quorumLosses.isEmpty)
        #expect(simulation.shardsWithoutQuorum.isEmpty)
        #expect(simulation.cluster.shards.values.allSatisfy { $0.voterCount == 3 && $0.replicas.count == 3 })
    }

    @Test("a node that dies while it receives replicas has its moves cancelled, then its replicas replaced")
    func deathDuringRebalance() {
        var simulation = PlacementSimulation(
            nodeCount: 30, shardCount: 2_000, bytesMin: Self.mebibyte, driver: PlacementDriver(),
            bytesPerTick: Self.mebibyte, seed: 4)
        #expect(simulation.runUntilSettled(ticksMax: 5_000) != nil)
        for node in [NodeID(31), NodeID(32)] { simulation.join(node) }
        simulation.run(ticks: 20)
        func movesTo(_ node: NodeID) -> Int {
            simulation.cluster.moving.count { simulation.cluster.shards[$0]!.move!.to == node }
        }
        #expect(movesTo(31) > 0)
        #expect(simulation.cluster.replicaCount(on: 31) > 0)
        simulation.kill(31)
        #expect(simulation.shardsWithoutQuorum.isEmpty)
        simulation.step()
        #expect(movesTo(31) == 0)
        #expect(simulation.runUntilSettled(ticksMax: 5_000) != nil)
        #expect(simulation.cluster.replicaCount(on: 31) == 0)
        #expect(simulation.quorumLosses.isEmpty)
        #expect(simulation.cluster.shards.values.allSatisfy { $0.voterCount == 3 && $0.replicas.count == 3 })
        expectBalanced(simulation.cluster)
    }

    @Test("a seed replays exactly: the same operations, bytes and placement")
    func replays() {
        var first = Self.simulation(seed: 9)
        var second = Self.simulation(seed: 9)
        first.join(NodeID(101))
        second.join(NodeID(101))
        first.run(ticks: 50)
        second.run(ticks: 50)
        #expect(first.bytesMoved == second.bytesMoved)
        #expect(first.bytesMoved > 0)
        #expect(first.cluster.shards == second.cluster.shards)
    }

    /// Replicas and leaders on every node accepting replicas within 5% of their means.
    func expectBalanced(_ cluster: PlacementCluster, sourceLocation: SourceLocation = #_sourceLocation) {
        let nodes = cluster.nodeIDs.filter(cluster.acceptsReplicas)
        let replicas = nodes.map(cluster.replicaCount(on:))
        let leaders = nodes.map(cluster.leaderCount(of:))
        for (name, counts) in [("replicas", replicas), ("leaders", leaders)] {
            let mean = Double(counts.reduce(0, +)) / Double(counts.count)
            let spread = counts.map { abs(Double($0) - mean) / mean }.max() ?? 0
            #expect(
                spread <= 0.05, "\(name) per node from \(counts.min()!) to \(counts.max()!)",
                sourceLocation: sourceLocation)
        }
    }
}
