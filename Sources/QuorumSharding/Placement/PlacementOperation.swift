import QuorumConsensus

/// One step the placement driver asks for. Each is a single-server membership change or a leadership transfer in
/// the shard's own consensus group, so each is safe on its own; the driver asks for at most one per shard at a time.
public enum PlacementOperation: Hashable, Sendable, CustomStringConvertible {
    /// Begins a move: `node` joins `shard` as a learner, replacing `replacing` once it has caught up.
    case addLearner(shard: GroupID, node: NodeID, replacing: NodeID?)
    /// Makes the caught-up learner on `node` a voter.
    case promote(shard: GroupID, node: NodeID)
    /// Removes the replica on `node`: the replaced one at the end of a move, or the learner of a cancelled move.
    case removeReplica(shard: GroupID, node: NodeID)
    case transferLeadership(shard: GroupID, to: NodeID)

    public var shard: GroupID {
        switch self {
        case .addLearner(let shard, _, _), .promote(let shard, _), .removeReplica(let shard, _),
            .transferLeadership(let shard, _):
            shard
        }
    }

    public var description: String {
        switch self {
        case .addLearner(let shard, let node, let replacing):
            "add learner \(node) to \(shard)" + (replacing.map { " replacing \($0)" } ?? "")
        case .promote(let shard, let node): "promote \(node) in \(shard)"
        case .removeReplica(let shard, let node): "remove \(node) from \(shard)"
        case .transferLeadership(let shard, let node): "transfer \(shard)'s leadership to \(node)"
        }
    }
}
