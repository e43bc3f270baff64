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

    /// A range read across shards, stitched in key order with the limit honoured (`ShardedRange`); a range of one
    /// key goes to its key's group.
    public func range(_ request: RangeRequest, linearizable: Bool = true) async throws(QuorumClientError)
        -> RangeResponse
    {
        guard let end = request.rangeEnd, !end.isEmpty else {
            return try await routed(request.key) { client throws(QuorumClientError) in
                try await client.range(request, linearizable: linearizable)
            }
        }
        let endpoints = endpoints
        return try await ShardedRange.read(
            request, within: timeout,
            readMap: { () throws(QuorumClientError) in
                map = nil
                return try await shardMap()
            },
            readGroup: { group, piece throws(QuorumClientError) in
                try await client(of: group).range(piece, linearizable: linearizable)
            },
            failure: { problem in
                switch problem {
                case .pastRevisionAcrossGroups:
                    .refused("a read at a past revision cannot span groups: each group has revisions of its own")
                case .keysKeptMoving: .unreachable(endpoints: endpoints, lastError: "keys of the range kept moving")
                }
            })
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
