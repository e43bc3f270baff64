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
    public private(set) var shards: [GroupID: PlacementShard]
    /// Node ids in ascending order: the order every decision visits them in, so that equal input gives equal output.
    /// A node's position here is its slot, which indexes the arrays below and the driver's counts.
    public private(set) var nodeIDs: [NodeID]
    private var slots: [NodeID: Int]
    private var nodesBySlot: [PlacementNode]
    /// Invariant: each node's replicas, sorted by `ShardOrder`.
    private var replicasBySlot: [[ShardOrder]]
    /// Invariant: each node's led shards, sorted by id.
    private var leadersBySlot: [[GroupID]]
    /// Shards with a move under way.
    public private(set) var moving: Set<GroupID> = []
    /// Shards with fewer replicas than their replication factor and no move under way.
    public private(set) var underReplicated: Set<GroupID> = []

    /// The order in which the driver prefers to move a node's replicas: smallest first, then by id.
    struct ShardOrder: Comparable, Hashable, Sendable {
        var bytes: Int
        var id: GroupID
        // Not a tuple comparison: that one is generic, and this runs for every insertion and removal.
        static func < (a: ShardOrder, b: ShardOrder) -> Bool { a.bytes != b.bytes ? a.bytes < b.bytes : a.id < b.id }
    }

    /// - Precondition: every replica and leader is on one of `nodes`, and node and shard ids are unique.
    public init(nodes: [PlacementNode], shards: [PlacementShard], now: Int = 0) {
        self.now = now
        self.shards = [:]
        nodesBySlot = nodes.sorted { $0.id < $1.id }
        nodeIDs = nodesBySlot.map(\.id)
        slots = Dictionary(uniqueKeysWithValues: nodeIDs.enumerated().map { ($1, $0) })
        replicasBySlot = Array(repeating: [], count: nodes.count)
        leadersBySlot = Array(repeating: [], count: nodes.count)
        for shard in shards.sorted(by: { $0.id < $1.id }) {
            precondition(self.shards[shard.id] == nil, "\(shard.id) appears twice")
            self.shards[shard.id] = shard
            index(shard)
        }
    }

    public func node(_ id: NodeID) -> PlacementNode? { slots[id].map { nodesBySlot[$0] } }

    public func replicaCount(on node: NodeID) -> Int { slots[node].map { replicasBySlot[$0].count } ?? 0 }

    /// The shards with a replica on `node`, smallest first.
    public func replicas(on node: NodeID) -> [GroupID] { slots[node].map { replicasBySlot[$0].map(\.id) } ?? [] }

    public func leaderCount(of node: NodeID) -> Int { slots[node].map { leadersBySlot[$0].count } ?? 0 }

    /// The shards `node` leads, in id order.
    public func shardsLed(by node: NodeID) -> [GroupID] { slots[node].map { leadersBySlot[$0] } ?? [] }

    public func acceptsReplicas(_ node: NodeID) -> Bool { self.node(node)?.acceptsReplicas ?? false }

    /// Whether `node` is reachable, even if draining: its caught-up replicas still vote.
    public func isUp(_ node: NodeID) -> Bool { self.node(node).map { !$0.isDead } ?? false }

    /// Whether `shard` has a quorum of caught-up voters on nodes that are up.
    public func hasQuorum(_ shard: PlacementShard) -> Bool { shard.hasQuorum(where: isUp) }

    func slot(of node: NodeID) -> Int { slots[node]! }
    func node(atSlot slot: Int) -> PlacementNode { nodesBySlot[slot] }
    func replicaOrder(atSlot slot: Int) -> [ShardOrder] { replicasBySlot[slot] }
    func replicaCount(atSlot slot: Int) -> Int { replicasBySlot[slot].count }
    func leaderCount(atSlot slot: Int) -> Int { leadersBySlot[slot].count }
    func shardsLed(atSlot slot: Int) -> [GroupID] { leadersBySlot[slot] }

    public mutating func add(_ node: PlacementNode) {
        precondition(slots[node.id] == nil, "\(node.id) is already a member")
        let slot = nodeIDs.firstIndex { $0 > node.id } ?? nodeIDs.count
        nodeIDs.insert(node.id, at: slot)
        nodesBySlot.insert(node, at: slot)
        replicasBySlot.insert([], at: slot)
        leadersBySlot.insert([], at: slot)
        slots = Dictionary(uniqueKeysWithValues: nodeIDs.enumerated().map { ($1, $0) })
    }

    public mutating func setState(_ state: PlacementNode.State, of node: NodeID) {
        precondition(slots[node] != nil, "\(node) is no member")
        nodesBySlot[slot(of: node)].state = state
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
            guard let slot = slots[replica.node] else { preconditionFailure("\(shard.id) has a replica on unknown \(replica.node)") }
            let position = insertionPoint(of: order, in: replicasBySlot[slot])
            replicasBySlot[slot].insert(order, at: position)
        }
        if let leader = shard.leader {
            precondition(shard.replica(on: leader) != nil, "\(shard.id)'s leader \(leader) holds no replica")
            let slot = slot(of: leader)
            let position = insertionPoint(of: shard.id, in: leadersBySlot[slot])
            leadersBySlot[slot].insert(shard.id, at: position)
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
            let slot = slot(of: replica.node)
            let position = insertionPoint(of: order, in: replicasBySlot[slot])
            precondition(replicasBySlot[slot][position] == order)
            replicasBySlot[slot].remove(at: position)
        }
        if let leader = shard.leader {
            let slot = slot(of: leader)
            let position = insertionPoint(of: shard.id, in: leadersBySlot[slot])
            precondition(leadersBySlot[slot][position] == shard.id)
            leadersBySlot[slot].remove(at: position)
        }
        moving.remove(shard.id)
        underReplicated.remove(shard.id)
    }

    /// The first position in sorted `entries` whose entry is not below `entry`.
    private func insertionPoint<Entry: Comparable>(of entry: Entry, in entries: [Entry]) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle] < entry { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
