import QuorumConsensus
import QuorumSharding
import QuorumStore

/// A range read across shards, stitched in key order with the limit honoured: `ShardedClient.range`, and the HTTP
/// API's range read when it names no group. The reads themselves are the caller's (`readMap`, `readGroup`), so it
/// serves a client over its connections and a node over its own runtime alike.
///
/// A range within one range-sharded keyspace reads its spans' groups in key order; any other range reads every group
/// and merges. A group skips keys it does not serve, so a read by a stale map would miss keys that moved: the read
/// uses a fresh map, waits out moves of its keys, and is repeated if the map changed meanwhile (every move changes
/// the epoch before its source lets go of a key). Revisions are per group, so a read at a past revision is refused
/// when it spans groups; the answer's revision is the highest any group answered with.
public enum ShardedRange {
    /// Why a range cannot be read across shards.
    public enum Problem: Sendable {
        case pastRevisionAcrossGroups
        case keysKeptMoving
    }

    public static func read<Failure: Error>(
        _ request: RangeRequest, within timeout: Duration,
        readMap: () async throws(Failure) -> ShardMap,
        readGroup: (GroupID, RangeRequest) async throws(Failure) -> RangeResponse,
        failure: (Problem) -> Failure,
        isolation: isolated (any Actor)? = #isolation
    ) async throws(Failure) -> RangeResponse {
        let end = request.rangeEnd ?? []
        guard let span = KeySpan(start: request.key, end: end == [0] ? nil : end) else {
            return RangeResponse(revision: .zero, kvs: [], more: false, count: 0)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let before = try await readMap()
            // Within a range-sharded keyspace only moves of overlapping spans matter; elsewhere any slot move does.
            let inKeyspace = before.keyspaces.contains { KeySpan(prefix: $0.prefix).covers(span) }
            let moving = before.migrations.contains { migration in
                switch migration.keys {
                case .span(let moved): moved.overlaps(span)
                case .slots: !inKeyspace
                }
            }
            if moving {
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            let plan = plan(span, by: before)
            if plan.parts.count > 1, request.revision != nil { throw failure(.pastRevisionAcrossGroups) }
            let response = try await read(request, plan, readGroup)
            if try await readMap().epoch == before.epoch { return response }
        }
        throw failure(.keysKeptMoving)
    }

    /// The groups to read and the part of the span each serves; `ordered` when the parts follow each other in key
    /// order (a range-sharded keyspace), so that the limit can be honoured group by group.
    private static func plan(_ span: KeySpan, by map: ShardMap) -> (
        parts: [(group: GroupID, part: KeySpan)], ordered: Bool
    ) {
        if let keyspace = map.keyspaces.first(where: { KeySpan(prefix: $0.prefix).covers(span) }) {
            return (keyspace.owners.parts(of: span).compactMap { part in part.value.map { ($0, part.span) } }, true)
        }
        return (map.groups.sorted().map { ($0, span) }, false)
    }

    private static func read<Failure: Error>(
        _ request: RangeRequest, _ plan: (parts: [(group: GroupID, part: KeySpan)], ordered: Bool),
        _ readGroup: (GroupID, RangeRequest) async throws(Failure) -> RangeResponse,
        isolation: isolated (any Actor)? = #isolation
    ) async throws(Failure) -> RangeResponse {
        let limit = request.limit > 0 ? request.limit : Int.max
        var gathered: [KeyValue] = []
        var count = 0
        var more = false
        var revision = Revision.zero
        for (group, part) in plan.parts {
            var piece = request
            piece.key = part.start
            piece.rangeEnd = part.end ?? [0]
            if plan.ordered { piece.limit = request.countOnly ? 0 : limit - min(limit, gathered.count) }
            if plan.ordered, !request.countOnly, gathered.count >= limit {
                // The limit is reached: the rest only says whether there is more.
                piece.countOnly = true
                piece.limit = 0
            }
            let response = try await readGroup(group, piece)
            revision = max(revision, response.revision)
            count += response.count
            more = more || response.more || (piece.countOnly && !request.countOnly && response.count > 0)
            if !piece.countOnly { gathered += response.kvs }
        }
        if !plan.ordered { gathered.sort { $0.key.lexicographicallyPrecedes($1.key) } }
        if gathered.count > limit {
            gathered.removeLast(gathered.count - limit)
            more = true
        }
        return RangeResponse(revision: revision, kvs: gathered, more: more, count: count)
    }
}
