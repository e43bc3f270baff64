import QuorumConsensus

/// What the placement driver decides from: the nodes, the shards with their replicas and moves, and the logical
/// time. The metadata group's leader keeps one up to date as membership changes, catch-ups, leaderships and node
/// liveness are reported, and asks the driver for the next operations.
///
/// It keeps, for each node, its replicas in the order the driver moves them (smallest first) and the shards it
/// leads, so that a decision looks at the nodes and the shards concerned instead of scanning every shard.
public struct PlacementCluster: Sendable {
    /// Logical time, in ticks: only compared with the ticks at which nodes died.
    public var now: Int
    public private(set) var nodes: [NodeID: PlacementNode]
    public private(set) var shards: [GroupID: PlacementShard]
    /// Invariant: each node's replicas, sorted by `ShardOrder`.
    private var replicasByNode: [NodeID: [ShardOrder]]
    private var leadersByNode: [NodeID: Set<GroupID>]
    /// Shards with a move under way.
    public private(set) var moving: Set<GroupID> = []
    /// Shards with fewer replicas than their replication factor and no move under way.
    public private(set) var underReplicated: Set<GroupID> = []

    /// The order in which the driver prefers to move a node's replicas: smallest first, then by id.
    struct ShardOrder: Comparable, Hashable, Sendable {
        var bytes: Int
        var id: GroupID
        static func < (a: ShardOrder, b: ShardOrder) -> Bool { (a.bytes, a.id) < (b.bytes, b.id) }
    }

    /// - Precondition: every replica and leader is on one of `nodes`, and node and shard ids are unique.
    public init(nodes: [PlacementNode], shards: [PlacementShard], now: Int = 0) {
        self.now = now
        self.nodes = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0) })
        nodeIDs = self.nodes.keys.sorted()
        self.shards = [:]
        replicasByNode = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, []) })
        leadersByNode = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, []) })
        for shard in shards.sorted(by: { $0.id < $1.id }) {
            precondition(self.shards[shard.id] == nil, "\(shard.id) appears twice")
            self.shards[shard.id] = shard
            index(shard)
        }
    }

    /// Node ids in ascending order: the order every decision visits them in, so that equal input gives equal output.
    public private(set) var nodeIDs: [NodeID]

    public func replicaCount(on node: NodeID) -> Int { replicasByNode[node]?.count ?? 0 }

    /// The shards with a replica on `node`, smallest first.
    public func replicas(on node: NodeID) -> [GroupID] { replicasByNode[node]?.map(\.id) ?? [] }

    func replicaOrder(on node: NodeID) -> [ShardOrder] { replicasByNode[node] ?? [] }

    public func leaderCount(of node: NodeID) -> Int { leadersByNode[node]?.count ?? 0 }

    /// The shards `node` leads, in id order.
    public func shardsLed(by node: NodeID) -> [GroupID] { (leadersByNode[node] ?? []).sorted() }

    public func acceptsReplicas(_ node: NodeID) -> Bool { nodes[node]?.acceptsReplicas ?? false }

    /// Whether `node` is reachable, even if draining: its caught-up replicas still vote.
    public func isUp(_ node: NodeID) -> Bool { nodes[node].map { !$0.isDead } ?? false }

    /// Whether `shard` has a quorum of caught-up voters on nodes that are up.
    public func hasQuorum(_ shard: PlacementShard) -> Bool { shard.hasQuorum(where: isUp) }

    public mutating func add(_ node: PlacementNode) {
        precondition(nodes[node.id] == nil, "\(node.id) is already a member")
        nodes[node.id] = node
        nodeIDs.insert(node.id, at: nodeIDs.firstIndex { $0 > node.id } ?? nodeIDs.count)
        replicasByNode[node.id] = []
        leadersByNode[node.id] = []
    }

    /// Forgets a node that holds nothing any more, as after a drain.
    public mutating func remove(_ node: NodeID) {
        precondition(replicaCount(on: node) == 0, "\(node) still holds replicas")
        nodes[node] = nil
        nodeIDs.removeAll { $0 == node }
        replicasByNode[node] = nil
        leadersByNode[node] = nil
    }

    public mutating func setState(_ state: PlacementNode.State, of node: NodeID) {
        precondition(nodes[node] != nil, "\(node) is no member")
        nodes[node]?.state = state
    }

    /// Carries out `operation`, as once its group has committed it.
    public mutating func apply(_ operation: PlacementOperation) {
        update(operation.shard) { $0.apply(operation) }
    }

    public mutating func markCaughtUp(_ node: NodeID, in shard: GroupID, _ isCaughtUp: Bool = true) {
        update(shard) { $0.markCaughtUp(node, isCaughtUp) }
    }

    /// Records the leader a group elected by itself, as after its leader's node died.
    public mutating func setLeader(_ node: NodeID?, of shard: GroupID) {
        update(shard) { $0.leader = node }
    }

    private mutating func update(_ id: GroupID, _ change: (inout PlacementShard) -> Void) {
        guard var shard = shards[id] else { preconditionFailure("\(id) is not a shard") }
        unindex(shard)
        change(&shard)
        shards[id] = shard
        index(shard)
    }

    private mutating func index(_ shard: PlacementShard) {
        let order = ShardOrder(bytes: shard.bytes, id: shard.id)
        for replica in shard.replicas {
            precondition(nodes[replica.node] != nil, "\(shard.id) has a replica on unknown \(replica.node)")
            let position = insertionPoint(of: order, on: replica.node)
            replicasByNode[replica.node]!.insert(order, at: position)
        }
        if let leader = shard.leader {
            precondition(shard.replica(on: leader) != nil, "\(shard.id)'s leader \(leader) holds no replica")
            leadersByNode[leader]!.insert(shard.id)
        }
        if shard.move != nil {
            moving.insert(shard.id)
        } else if shard.replicas.count < shard.replicationFactor {
            underReplicated.insert(shard.id)
        }
    }

    private mutating func unindex(_ shard: PlacementShard) {
        let order = ShardOrder(bytes: shard.bytes, id: shard.id)
        for replica in shard.replicas {
            let position = insertionPoint(of: order, on: replica.node)
            precondition(replicasByNode[replica.node]![position] == order)
            replicasByNode[replica.node]!.remove(at: position)
        }
        if let leader = shard.leader { leadersByNode[leader]!.remove(shard.id) }
        moving.remove(shard.id)
        underReplicated.remove(shard.id)
    }

    /// The first position on `node` whose entry is not below `order`.
    private func insertionPoint(of order: ShardOrder, on node: NodeID) -> Int {
        let entries = replicasByNode[node]!
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle] < order { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
