import QuorumConsensus

/// A replica on its way to `to`: added there as a learner, promoted once caught up, and then, if it replaces one,
/// `from` is removed. Recorded with the shard, so that whoever runs the driver next finishes it.
public struct PlacementMove: Hashable, Sendable {
    /// The replica this move replaces; nil when the shard had fewer replicas than its replication factor.
    public var from: NodeID?
    public var to: NodeID

    public init(from: NodeID?, to: NodeID) {
        self.from = from
        self.to = to
    }
}
