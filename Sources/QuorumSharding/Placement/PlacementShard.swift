import QuorumConsensus

/// One shard as the placement driver sees it: its size, its replicas and its leader, and the move under way.
public struct PlacementShard: Hashable, Sendable {
    public var id: GroupID
    /// What a new replica must copy; moving small shards first reaches balance with fewer bytes.
    public var bytes: Int
    /// The voters the shard should have.
    public var replicationFactor: Int
    /// Invariant: at most one replica per node, and at most one learner, which is the move's target.
    public private(set) var replicas: [PlacementReplica]
    public var leader: NodeID?
    /// Invariant: a move's target is a replica, and so is its source until the move ends.
    public private(set) var move: PlacementMove?
    /// Nodes that may not receive a replica of this shard: each held one that was removed, and a node does not
    /// recreate a removed replica (its tombstone refuses it).
    public var excludedNodes: Set<NodeID> = []

    public init(
        id: GroupID, bytes: Int, replicationFactor: Int = 3, replicas: [PlacementReplica], leader: NodeID? = nil,
        move: PlacementMove? = nil
    ) {
        precondition(bytes >= 0 && replicationFactor > 0)
        precondition(Set(replicas.map(\.node)).count == replicas.count, "\(id) has two replicas on one node")
        let learners = replicas.filter { $0.role == .learner }.map(\.node)
        precondition(learners.isEmpty || learners == [move?.to], "\(id)'s learners are not its move's target")
        if let move {
            precondition(replicas.contains { $0.node == move.to }, "\(id)'s move goes to a node without a replica")
        }
        self.id = id
        self.bytes = bytes
        self.replicationFactor = replicationFactor
        self.replicas = replicas
        self.leader = leader
        self.move = move
    }

    /// The caught-up voters a shard needs to be safe: a majority of its replication factor.
    public var quorum: Int { replicationFactor / 2 + 1 }

    public var voterCount: Int { replicas.count { $0.role == .voter } }

    public func replica(on node: NodeID) -> PlacementReplica? { replicas.first { $0.node == node } }

    /// Whether `node` may receive a replica of this shard: it holds none, and is not excluded.
    public func canReceive(on node: NodeID) -> Bool { replica(on: node) == nil && !excludedNodes.contains(node) }

    /// Caught-up voters on nodes for which `isUp` holds.
    public func caughtUpVoterCount(where isUp: (NodeID) -> Bool) -> Int {
        replicas.count { $0.role == .voter && $0.isCaughtUp && isUp($0.node) }
    }

    /// Whether the shard has a quorum of caught-up voters on nodes for which `isUp` holds, counted both against its
    /// replication factor and against the voters it has now (during a move it has one more).
    public func hasQuorum(where isUp: (NodeID) -> Bool) -> Bool {
        caughtUpVoterCount(where: isUp) >= quorum && canCommit(where: isUp)
    }

    /// Whether the group can commit a membership change: a majority of its voters are caught up on nodes for which
    /// `isUp` holds. A shard short of replicas (one voter, say, in a cluster that has grown from one node) can,
    /// though it lacks a quorum of its replication factor.
    public func canCommit(where isUp: (NodeID) -> Bool) -> Bool {
        caughtUpVoterCount(where: isUp) >= voterCount / 2 + 1
    }

    public mutating func markCaughtUp(_ node: NodeID, _ isCaughtUp: Bool = true) {
        guard let position = replicas.firstIndex(where: { $0.node == node }) else {
            preconditionFailure("\(id) has no replica on \(node)")
        }
        replicas[position].isCaughtUp = isCaughtUp
    }

    /// The shard once `operation` has been carried out: what the executor records after the group commits it.
    /// - Precondition: the operation fits the shard (the driver only asks for such).
    public mutating func apply(_ operation: PlacementOperation) {
        precondition(operation.shard == id)
        switch operation {
        case .addLearner(_, let node, let replacing):
            precondition(move == nil && replica(on: node) == nil, "\(id) cannot take a learner on \(node)")
            replicas.append(PlacementReplica(node: node, role: .learner, isCaughtUp: false))
            move = PlacementMove(from: replacing, to: node)
        case .promote(_, let node):
            guard let position = replicas.firstIndex(where: { $0.node == node && $0.role == .learner }) else {
                preconditionFailure("\(id) has no learner on \(node)")
            }
            replicas[position].role = .voter
            if move?.from == nil { move = nil }
        case .removeReplica(_, let node):
            precondition(replica(on: node) != nil, "\(id) has no replica on \(node)")
            precondition(
                move?.from != node || replica(on: move!.to)?.role == .voter,
                "\(id) would keep a learner without its move")
            replicas.removeAll { $0.node == node }
            if leader == node { leader = nil }
            if move?.from == node || move?.to == node { move = nil }
        case .transferLeadership(_, let node):
            precondition(replica(on: node)?.role == .voter, "\(node) is no voter of \(id)")
            leader = node
        }
    }
}
