import QuorumConsensus

/// Where a span that grew too large goes when it splits.
extension ShardMap {
    /// Every group the map names: owners of slots, of spans, and targets of moves.
    public var groups: Set<GroupID> {
        Set(assignment.ranges.map(\.group)).union(keyspaces.flatMap { $0.owners.pieces.map(\.value) })
            .union(migrations.map(\.to))
    }

    /// The group that receives the upper half of a span `owner` holds: the other group owning the fewest spans of
    /// range-sharded keyspaces (lowest id on a tie), so that splits spread spans over the groups. Nil when the map
    /// names no other group.
    public func splitTarget(from owner: GroupID) -> GroupID? {
        var spans: [GroupID: Int] = [:]
        for group in groups where group != owner { spans[group] = 0 }
        for keyspace in keyspaces {
            for piece in keyspace.owners.pieces where piece.value != owner { spans[piece.value, default: 0] += 1 }
        }
        return spans.min { ($0.value, $0.key) < ($1.value, $1.key) }?.key
    }
}
