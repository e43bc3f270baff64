import QuorumConsensus

/// The kinds of fault a chaos run injects.
public enum FaultKind: String, CaseIterable, Codable, Sendable, Comparable {
    /// Every link to and from one node cut, its connections closed.
    case partition
    /// Every link to and from one node holding its bytes: connections stay open and go silent.
    case silentPartition
    /// One direction of one link cut: one node hears the other, not the other way round.
    case oneWayPartition
    /// Every link to and from one node delayed.
    case delay
    /// Every link to and from one node closing connections at random.
    case connectionDrops
    /// Every link to and from one node limited to a few kilobytes a second.
    case bandwidthLimit
    /// SIGKILL, then a restart on the same data when the fault ends.
    case kill
    /// SIGSTOP, then SIGCONT when the fault ends.
    case pause
    /// Whoever leads is asked to hand over to one node.
    case leadershipTransfer
    /// The file system under one node's data directory filled to its last byte, and freed when the fault ends.
    case diskFull
    /// A new node is added to the cluster and removed again when the fault ends, while another fault, which starts
    /// a quarter of the way in, is in force.
    case membershipChange
    /// The Swift clients' connections, to every node: what they send waits 20–200 ms, and one chunk in ten
    /// closes its connection, so requests time out, connections break under them, and clients retry.
    case clientLinks

    /// Kinds that last 3–5 s rather than 1–2.5 s: a membership change has another fault inside it, and a full disk
    /// bites only once a node writes a new file (a snapshot, a log segment), not while it fills a preallocated one.
    var isLong: Bool { self == .membershipChange || self == .diskFull }

    /// How often a chunk a client sends on a faulty client link closes its connection, in thousandths.
    static let clientLinkDropsPerMille = 100

    public static func < (lhs: FaultKind, rhs: FaultKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One fault: what, to whom, when it starts and how long it lasts (milliseconds from the start of the workload).
public struct ScheduledFault: Hashable, Codable, Sendable, CustomStringConvertible {
    public var kind: FaultKind
    public var startMilliseconds: Int
    public var durationMilliseconds: Int
    /// The node isolated, slowed, killed, paused or handed the leadership; for a one-way partition, the sender.
    public var node: Int
    /// For a one-way partition, the node that stops hearing `node`.
    public var peer: Int?
    /// Delay in milliseconds, drops per thousand chunks, or bytes a second, by kind.
    public var magnitude: Int

    public init(
        kind: FaultKind, startMilliseconds: Int, durationMilliseconds: Int, node: Int, peer: Int? = nil,
        magnitude: Int = 0
    ) {
        self.kind = kind
        self.startMilliseconds = startMilliseconds
        self.durationMilliseconds = durationMilliseconds
        self.node = node
        self.peer = peer
        self.magnitude = magnitude
    }

    public var description: String {
        let target =
            switch kind {
            case .membershipChange: "a new node"
            case .clientLinks: "the clients' links"
            default: peer.map { "link \(node)→\($0)" } ?? "node \(node)"
            }
        let amount =
            switch kind {
            case .delay: " \(magnitude) ms"
            case .clientLinks: " \(magnitude) ms, \(FaultKind.clientLinkDropsPerMille)‰ of chunks dropping"
            case .connectionDrops: " \(magnitude)‰ of chunks"
            case .bandwidthLimit: " \(magnitude) B/s"
            default: ""
            }
        return "at \(startMilliseconds) ms for \(durationMilliseconds) ms: \(kind.rawValue)\(amount) on \(target)"
    }
}

/// The faults of one run, one after another with quiet gaps between them, decided by a seed before the run starts,
/// so that a failing run can be repeated with the same faults.
public struct FaultSchedule: Hashable, Codable, Sendable {
    public var faults: [ScheduledFault]

    public init(faults: [ScheduledFault]) { self.faults = faults }

    /// Faults filling `durationMilliseconds` on a cluster of `nodes`. Each kind comes once, in an order the seed
    /// shuffles, before any comes twice, so even a short run injects every kind in `kinds`. Faults follow one
    /// another, except that about a third of them have a leadership transfer asked for a third of the way through
    /// (when the kinds include it): a handover while a node is cut off, slowed, paused or down. A membership change
    /// always has another fault inside it.
    public static func generate(
        seed: UInt64, nodes: Int, durationMilliseconds: Int, kinds: [FaultKind] = FaultKind.allCases
    ) -> FaultSchedule {
        precondition(nodes >= 2 && !kinds.isEmpty)
        var random = SplitMix64(seed: seed)
        var faults: [ScheduledFault] = []
        var round: [FaultKind] = []
        var clock = Int.random(in: 500...1_000, using: &random)
        while true {
            if round.isEmpty { round = kinds.shuffled(using: &random) }
            let kind = round.removeFirst()
            let duration =
                kind.isLong
                ? Int.random(in: 3_000...5_000, using: &random) : Int.random(in: 1_000...2_500, using: &random)
            guard clock + duration <= durationMilliseconds else { break }
            let node = Int.random(in: 1...nodes, using: &random)
            var fault = ScheduledFault(kind: kind, startMilliseconds: clock, durationMilliseconds: duration, node: node)
            fault.drawParameters(nodes: nodes, using: &random)
            faults.append(fault)
            if kind == .membershipChange {
                // The fault inside is the round's next kind that can be one, when there is one, so that it takes no
                // time of its own and a short run still reaches every kind.
                let canBeInside = { (kind: FaultKind) in kind != .membershipChange && kind != .leadershipTransfer }
                let companion =
                    round.firstIndex(where: canBeInside).map { round.remove(at: $0) }
                    ?? kinds.filter(canBeInside).randomElement(using: &random)
                if let companion {
                    var inside = ScheduledFault(
                        kind: companion, startMilliseconds: clock + duration / 4, durationMilliseconds: duration / 2,
                        node: Int.random(in: 1...nodes, using: &random))
                    inside.drawParameters(nodes: nodes, using: &random)
                    faults.append(inside)
                }
            }
            if kind != .leadershipTransfer && kind != .membershipChange && kinds.contains(.leadershipTransfer)
                && Int.random(in: 0..<3, using: &random) == 0
            {
                faults.append(
                    ScheduledFault(
                        kind: .leadershipTransfer, startMilliseconds: clock + duration / 3, durationMilliseconds: 600,
                        node: Int.random(in: 1...nodes, using: &random)))
            }
            clock += fault.durationMilliseconds + Int.random(in: 300...800, using: &random)
        }
        return FaultSchedule(faults: faults)
    }
}

extension ScheduledFault {
    /// Draws what the fault's kind needs besides its node: the peer of a one-way partition, an amount, a duration.
    fileprivate mutating func drawParameters(nodes: Int, using random: inout SplitMix64) {
        switch kind {
        case .oneWayPartition: peer = ((node - 1 + Int.random(in: 1..<nodes, using: &random)) % nodes) + 1
        case .delay, .clientLinks: magnitude = Int.random(in: 20...200, using: &random)
        case .connectionDrops: magnitude = Int.random(in: 20...100, using: &random)
        case .bandwidthLimit: magnitude = Int.random(in: 2_000...20_000, using: &random)
        case .leadershipTransfer: durationMilliseconds = 800
        default: break
        }
    }
}
