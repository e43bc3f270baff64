import QuorumConsensus
import QuorumSharding
import QuorumStore

/// A client of a sharded cluster's keys: sends each key to the group that owns its hash slot, by a cached copy of
/// the shard map, and follows the cluster when the map has moved on.
///
/// A group refuses a key whose slot it handed over, naming the group it went to (checked by every replica when
/// the request applies, so a stale map never writes in the wrong group): the client then asks that group and
/// refreshes its map. A slot that is mid-move is retried until the move finishes or the timeout passes.
public actor ShardedClient {
    public let endpoints: [String]
    public let timeout: Duration
    private var map: ShardMap?
    private var clients: [GroupID: QuorumClient] = [:]

    public init(endpoints: [String], timeout: Duration = .seconds(5)) {
        self.endpoints = endpoints
        self.timeout = timeout
    }

    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8], lease: LeaseID? = nil) async throws(QuorumClientError)
        -> PutResponse
    {
        try await routed(key) { client throws(QuorumClientError) in try await client.put(key, value, lease: lease) }
    }

    public func get(_ key: [UInt8], linearizable: Bool = true) async throws(QuorumClientError) -> KeyValue? {
        try await routed(key) { client throws(QuorumClientError) in
            try await client.get(key, linearizable: linearizable)
        }
    }

    @discardableResult
    public func delete(_ key: [UInt8]) async throws(QuorumClientError) -> DeleteRangeResponse {
        try await routed(key) { client throws(QuorumClientError) in try await client.delete(key) }
    }

    /// A range read across shards, stitched in key order with the limit honoured. A range within one range-sharded
    /// keyspace reads its spans' groups in key order; any other range reads every group and merges. A group skips
    /// keys it does not serve, so a read by a stale map would miss keys that moved: the read uses a fresh map, waits
    /// out moves of its keys, and is repeated if the map changed meanwhile (every move changes the epoch before its
    /// source lets go of a key). Revisions are per group, so a read at a past revision is refused when it spans
    /// groups; the answer's revision is the highest any group answered with.
    public func range(_ request: RangeRequest, linearizable: Bool = true) async throws(QuorumClientError)
        -> RangeResponse
    {
        guard let end = request.rangeEnd, !end.isEmpty else {
            return try await routed(request.key) { client throws(QuorumClientError) in
                try await client.range(request, linearizable: linearizable)
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        guard let span = KeySpan(start: request.key, end: end == [0] ? nil : end) else {
            return RangeResponse(revision: .zero, kvs: [], more: false, count: 0)
        }
        while clock.now < deadline {
            map = nil
            let before = try await shardMap()
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
            let response = try await range(request, span: span, by: before, linearizable: linearizable)
            map = nil
            if try await shardMap().epoch == before.epoch { return response }
        }
        throw .unreachable(endpoints: endpoints, lastError: "keys of the range kept moving")
    }

    private func range(_ request: RangeRequest, span: KeySpan, by map: ShardMap, linearizable: Bool)
        async throws(QuorumClientError) -> RangeResponse
    {
        let plan: [(group: GroupID, part: KeySpan)]
        let ordered: Bool
        if let keyspace = map.keyspaces.first(where: { KeySpan(prefix: $0.prefix).covers(span) }) {
            plan = keyspace.owners.parts(of: span).compactMap { part in part.value.map { ($0, part.span) } }
            ordered = true
        } else {
            let groups = map.groups
            plan = groups.sorted().map { ($0, span) }
            ordered = false
        }
        if plan.count > 1, request.revision != nil {
            throw .refused("a read at a past revision cannot span groups: each group has revisions of its own")
        }
        let limit = request.limit > 0 ? request.limit : Int.max
        var gathered: [KeyValue] = []
        var count = 0
        var more = false
        var revision = Revision.zero
        for (group, part) in plan {
            var piece = request
            piece.key = part.start
            piece.rangeEnd = part.end ?? [0]
            if ordered { piece.limit = request.countOnly ? 0 : limit - min(limit, gathered.count) }
            if ordered, !request.countOnly, gathered.count >= limit {
                // The limit is reached: the rest only says whether there is more.
                piece.countOnly = true
                piece.limit = 0
            }
            let response = try await client(of: group).range(piece, linearizable: linearizable)
            revision = max(revision, response.revision)
            count += response.count
            more = more || response.more || (piece.countOnly && !request.countOnly && response.count > 0)
            if !piece.countOnly { gathered += response.kvs }
        }
        if !ordered { gathered.sort { $0.key.lexicographicallyPrecedes($1.key) } }
        if gathered.count > limit {
            gathered.removeLast(gathered.count - limit)
            more = true
        }
        return RangeResponse(revision: revision, kvs: gathered, more: more, count: count)
    }

    /// The shard map this client routes by, read from the cluster if it has none yet.
    public func shardMap() async throws(QuorumClientError) -> ShardMap {
        if let map { return map }
        let fresh = try await client(of: ShardMap.group).shardMap()
        map = fresh
        return fresh
    }

    public func close() async {
        for client in clients.values { await client.close() }
        clients.removeAll()
    }

    private func routed<Value: Sendable>(
        _ key: [UInt8], _ body: (QuorumClient) async throws(QuorumClientError) -> Value
    ) async throws(QuorumClientError) -> Value {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var redirected: GroupID? = nil
        while true {
            let group: GroupID
            if let redirected { group = redirected } else { group = try await shardMap().owner(ofKey: key) }
            do throws(QuorumClientError) {
                return try await body(client(of: group))
            } catch .store(.keyMoved(_, let owner)) where clock.now < deadline {
                // The map moved on: ask the new owner now, and route later keys by a fresh map.
                redirected = owner
                map = nil
            } catch .store(let refusal) where clock.now < deadline && Self.isTransient(refusal) {
                // Mid-move, or this client's map is older than the group's ownership: refresh and try again.
                redirected = nil
                map = nil
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    private static func isTransient(_ refusal: StoreError) -> Bool {
        switch refusal {
        case .keyImporting, .keyNotServed: true
        default: false
        }
    }

    private func client(of group: GroupID) -> QuorumClient {
        if let client = clients[group] { return client }
        let client = QuorumClient(endpoints: endpoints, timeout: timeout, group: group)
        clients[group] = client
        return client
    }
}
