import QuorumConsensus

/// Where a span that grew too large goes when it splits, and which small neighbours merge.
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

    /// Which span of a keyspace merges into the span before it: of the neighbouring pairs that together hold at most
    /// `keysMax` keys and take at most `requestsPerSecondMax` requests a second, the pair holding fewest keys (the
    /// first such pair on a tie); its upper span's index. `spans` are the keyspace's spans in key order. Nil when no
    /// pair is that small and that cold.
    ///
    /// Neighbouring spans belong to different groups (a shard is a maximal span), so a merge moves the upper span's
    /// keys to the lower span's group. A driver that splits at `n` keys or `r` requests a second should merge at well
    /// under those (it uses `n / 4` and `r / 2`), so that a merged span is not split again at once.
    public static func mergeCandidate(
        _ spans: [SpanSize], keysMax: Int, requestsPerSecondMax: Int = .max
    ) -> Int? {
        guard spans.count > 1 else { return nil }
        let pairs = (1..<spans.count).map { upper in
            (
                upper: upper, keys: spans[upper - 1].keys + spans[upper].keys,
                requests: spans[upper - 1].requestsPerSecond + spans[upper].requestsPerSecond
            )
        }
        return pairs.filter { $0.keys <= keysMax && $0.requests <= requestsPerSecondMax }
            .min { ($0.keys, $0.upper) < ($1.keys, $1.upper) }?.upper
    }
}

/// How many keys a span holds, and how many requests a second it takes (0 where not measured).
public struct SpanSize: Hashable, Sendable {
    public var keys: Int
    public var requestsPerSecond: Int

    public init(keys: Int, requestsPerSecond: Int = 0) {
        self.keys = keys
        self.requestsPerSecond = requestsPerSecond
    }
}
