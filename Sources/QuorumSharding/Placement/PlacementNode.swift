import QuorumConsensus

/// A node as the placement driver sees it: whether it may hold replicas.
///
/// A node that joins is simply `.live` with no replicas; the driver fills it by rebalancing.
public struct PlacementNode: Hashable, Sendable {
    public enum State: Hashable, Sendable {
        /// Reachable: may receive replicas and leaderships.
        case live
        /// Unreachable since the given tick. Its replicas are replaced only once it has been dead for the driver's
        /// `deadAfterTicks`, so that a restart or a short partition costs no copy.
        case dead(sinceTick: Int)
        /// Leaving: its leaderships and then its replicas move elsewhere; it receives nothing.
        case draining
    }

    public var id: NodeID
    public var state: State

    public init(id: NodeID, state: State = .live) {
        self.id = id
        self.state = state
    }

    /// Whether it may receive replicas and leaderships: live, not draining.
    public var acceptsReplicas: Bool { state == .live }

    public var isDead: Bool {
        if case .dead = state { return true }
        return false
    }
}
