/// How fast and how eagerly the placement driver moves replicas.
public struct PlacementSettings: Hashable, Sendable {
    /// Moves under way at once that involve one node, as receiver or as the replica being replaced: bounds the
    /// snapshots a node sends or receives at once.
    public var movesPerNodeMax: Int
    /// Moves under way at once in the whole cluster.
    public var movesMax: Int
    /// How long a node must have been dead before its replicas are replaced elsewhere, as CockroachDB's
    /// `server.time_until_store_dead`: a node that restarts within it costs no copy.
    public var deadAfterTicks: Int
    /// Leadership transfers asked for in one round.
    public var leaderTransfersMax: Int

    public init(movesPerNodeMax: Int = 4, movesMax: Int = 64, deadAfterTicks: Int = 300, leaderTransfersMax: Int = 64) {
        precondition(movesPerNodeMax > 0 && movesMax > 0 && deadAfterTicks >= 0 && leaderTransfersMax >= 0)
        self.movesPerNodeMax = movesPerNodeMax
        self.movesMax = movesMax
        self.deadAfterTicks = deadAfterTicks
        self.leaderTransfersMax = leaderTransfersMax
    }
}
