// Proposals committed per second by a 3-node Raft cluster held in memory and driven as fast as possible:
// no I/O, no clock in the loop, every Ready acknowledged at once. It measures the engine alone, which must
// never be what limits the server.
//
//   swift run -c release --package-path Benchmarks EngineThroughput [seconds] [batch] [payloadBytes]
import QuorumConsensus

struct InMemoryCluster {
    var nodes: [RaftNode]
    var inbox: [Message] = []

    init(size: Int, options: RaftOptions) throws {
        nodes = try (1...UInt64(size)).map { try RaftNode(id: NodeID($0), options: options) }
    }

    /// Takes every Ready, "persists" it instantly, delivers its messages; returns entries the leader applied.
    mutating func drain() -> Int {
        var applied = 0
        var progress = true
        while progress {
            progress = false
            for position in nodes.indices where nodes[position].hasReady {
                progress = true
                let ready = nodes[position].ready()
                inbox += ready.messages
                nodes[position].acknowledge(readyNumber: ready.number)
                inbox += ready.messagesAfterPersist
                if position == 0 { applied += ready.committedEntries.count }
            }
            if !inbox.isEmpty {
                progress = true
                let delivering = inbox
                inbox.removeAll(keepingCapacity: true)
                for message in delivering { try? nodes[Int(message.to.rawValue) - 1].step(message) }
            }
        }
        return applied
    }
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let durationSeconds = arguments.count > 0 ? arguments[0] : 5
let batch = arguments.count > 1 ? arguments[1] : 256
let payloadBytes = arguments.count > 2 ? arguments[2] : 16

var options = RaftOptions()
options.initialConfiguration = Configuration(voters: [1, 2, 3])
options.maxEntriesPerAppend = 4_096
options.snapshotIntervalEntries = 1 << 40
var cluster = try InMemoryCluster(size: 3, options: options)
cluster.nodes[0].campaign()
_ = cluster.drain()
precondition(cluster.nodes[0].role == .leader, "node 1 should lead after campaigning")

let payload = [UInt8](repeating: 7, count: payloadBytes)
let clock = ContinuousClock()
let start = clock.now
let deadline = start + .seconds(durationSeconds)
var committed = 0
var rounds = 0
while clock.now < deadline {
    for _ in 0..<batch { _ = try cluster.nodes[0].propose(payload) }
    committed += cluster.drain()
    rounds += 1
    if rounds % 64 == 0 {
        // Keep memory flat, as a server that snapshots would.
        for position in cluster.nodes.indices {
            let applied = cluster.nodes[position].appliedIndex
            _ = cluster.nodes[position].compact(through: applied, snapshotData: [])
        }
    }
}
let elapsed = start.duration(to: clock.now)
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print("engine throughput: 3 nodes, batch \(batch), \(payloadBytes)-byte entries")
print("  committed \(committed) entries in \(Int(seconds * 1000)) ms")
print("  \(Int(Double(committed) / seconds)) entries/s committed and applied on the leader")
