import QuorumConsensus
import QuorumNode

/// The network between simulated nodes: it delays, drops, duplicates and reorders messages, and partitions
/// links one way or both ways.
struct SimulatedNetwork {
    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    var delayMsMax: UInt64
    var dropRate: Double
    var duplicateRate: Double
    var longDelayRate: Double
    private(set) var blocked: Set<Link> = []

    var isPartitioned: Bool { !blocked.isEmpty }

    func isBlocked(from: NodeID, to: NodeID) -> Bool { blocked.contains(Link(from: from, to: to)) }

    /// Ends every partition and every loss, duplication and long delay: the network of the liveness phase.
    mutating func repair() {
        blocked.removeAll()
        dropRate = 0
        duplicateRate = 0
        longDelayRate = 0
    }

    /// Draws a new partition among `nodes`: a node cut off both ways, one way, or the cluster split in two.
    mutating func repartition(_ nodes: [NodeID], random: inout SplitMix64) -> String {
        blocked.removeAll()
        let shuffled = nodes.shuffled(using: &random)
        switch random.next(upperBound: UInt64(4)) {
        case 0:
            return "healed"
        case 1:
            let isolated = shuffled[0]
            for other in nodes where other != isolated {
                blocked.insert(Link(from: isolated, to: other))
                blocked.insert(Link(from: other, to: isolated))
            }
            return "isolated \(isolated)"
        case 2:
            let node = shuffled[0]
            let inbound = random.chance(0.5)
            for other in nodes where other != node {
                blocked.insert(inbound ? Link(from: other, to: node) : Link(from: node, to: other))
            }
            return "\(node) cannot \(inbound ? "hear" : "reach") the others"
        default:
            let cut = 1 + Int(random.next(upperBound: UInt64(nodes.count - 1)))
            let left = Set(shuffled.prefix(cut))
            for a in nodes {
                for b in nodes where left.contains(a) != left.contains(b) { blocked.insert(Link(from: a, to: b)) }
            }
            return "split \(left.sorted()) | \(Set(nodes).subtracting(left).sorted())"
        }
    }

    /// Cuts `node` off from `nodes` both ways, replacing any partition.
    mutating func isolate(_ node: NodeID, from nodes: [NodeID]) {
        blocked.removeAll()
        for other in nodes where other != node {
            blocked.insert(Link(from: node, to: other))
            blocked.insert(Link(from: other, to: node))
        }
    }

    /// The delivery delays for one message: none if dropped, two if duplicated.
    func deliveryDelays(random: inout SplitMix64) -> [UInt64] {
        if random.chance(dropRate) { return [] }
        var delays = [delay(random: &random)]
        if random.chance(duplicateRate) { delays.append(delay(random: &random)) }
        return delays
    }

    private func delay(random: inout SplitMix64) -> UInt64 {
        if random.chance(longDelayRate) { return 100 + random.next(upperBound: 900) }
        return 1 + random.next(upperBound: delayMsMax)
    }
}

/// A node's outbound side of the network: it hands messages to the world, which schedules their delivery.
final class SimulatedEndpoint: MessageTransport {
    private unowned let world: Simulation
    /// The sender's disk, to check what its messages promise against what it holds (`DurablePromises`).
    private let disk: SimulatedDisk

    init(world: Simulation, disk: SimulatedDisk) {
        self.world = world
        self.disk = disk
    }

    func send(_ messages: [Message]) {
        for message in messages {
            if let broken = DurablePromises.broken(by: message, disk: disk.durable) {
                world.checker.fail("durability: \(message.from) \(broken): \(message)")
            }
            disk.promisesMade.record(message)
            world.transmit(message)
        }
    }
}

extension SplitMix64 {
    mutating func chance(_ probability: Double) -> Bool {
        probability > 0 && Double(next() >> 11) / Double(1 << 53) < probability
    }
}
