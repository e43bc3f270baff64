import QuorumConsensus

/// One replica of a shard on one node.
public struct PlacementReplica: Hashable, Sendable {
    public enum Role: Hashable, Sendable {
        case voter
        /// Receives the log but does not vote: how a new replica catches up without weakening the group's quorum.
        case learner
    }

    public var node: NodeID
    public var role: Role
    /// Whether the group's leader last saw this replica's log near its own; only such voters count toward the
    /// quorum the driver protects.
    public var isCaughtUp: Bool

    public init(node: NodeID, role: Role = .voter, isCaughtUp: Bool = true) {
        self.node = node
        self.role = role
        self.isCaughtUp = isCaughtUp
    }
}
