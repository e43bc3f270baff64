// Time and bytes for the placement driver to rebalance after nodes join, in its model cluster: 100 nodes, 10,000
// shards of three replicas (1 to 64 MiB), learners receiving 1 MiB a tick, default settings (4 moves per node, 64
// in the cluster). It reports the ticks until the cluster is quiet again, the bytes copied against the least any
// placement must copy, and the wall time the driver took to decide, one core, no I/O.
//
//   swift run -c release --package-path Benchmarks PlacementRebalance [joiningNodes] [seed]
import QuorumConsensus
import QuorumSharding

let joiningCount = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1 : 1
let seed = CommandLine.arguments.count > 2 ? UInt64(CommandLine.arguments[2]) ?? 1 : 1
let mebibyte = 1 << 20
let clock = ContinuousClock()

func milliseconds(_ duration: Duration) -> Int {
    Int(duration.components.seconds * 1000) + Int(duration.components.attoseconds / 1_000_000_000_000_000)
}

var simulation = PlacementSimulation(
    nodeCount: 100, shardCount: 10_000, bytesMin: mebibyte, driver: PlacementDriver(), bytesPerTick: mebibyte,
    seed: seed)
let balancing = clock.measure { _ = simulation.runUntilSettled(ticksMax: 100_000) }
print("PlacementRebalance: 100 nodes, 10,000 shards, seed \(seed)")
print("initial random placement balanced in \(milliseconds(balancing)) ms")

let joining = (0..<joiningCount).map { NodeID(UInt64(101 + $0)) }
for node in joining { simulation.join(node) }
let bound = simulation.bytesToFill(joining)
let bytesBefore = simulation.bytesMoved
let movesBefore = simulation.movesStarted
let transfersBefore = simulation.leadershipTransfers
var ticks: Int?
let elapsed = clock.measure { ticks = simulation.runUntilSettled(ticksMax: 100_000) }
let bytes = simulation.bytesMoved - bytesBefore
let ratio = Double(bytes) / Double(max(bound, 1))
print(
    "\(joiningCount) node(s) joined: settled after \(ticks.map(String.init) ?? "more than 100000") ticks, "
        + "\(simulation.movesStarted - movesBefore) moves, \(simulation.leadershipTransfers - transfersBefore) "
        + "leadership transfers")
print("bytes moved \(bytes / mebibyte) MiB, least possible \(bound / mebibyte) MiB (\(Int(ratio * 1000)) per mille)")
print("driver and model: \(milliseconds(elapsed)) ms of wall time")
