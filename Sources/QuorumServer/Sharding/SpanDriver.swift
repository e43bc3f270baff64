import Logging
import NIOCore
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumStore

/// Keeps the spans of range-sharded keyspaces near `--split-keys` keys and under `--split-load` requests a second:
/// - a span past the key limit splits at its median key; a span past the load limit splits where its requests' keys
///   divide in halves (`RequestLoad`); either way the upper part moves to the group that owns the fewest spans
///   (`ShardMap.splitTarget`);
/// - two neighbouring spans that together hold at most a quarter of the key limit, and take at most half the load
///   limit, merge: the upper one's keys move to the lower one's group (`ShardMap.mergeCandidate`). The margins keep a
///   merged span well below the split points, so spans do not split and merge by turns.
///
/// It runs on the node that leads group 1, so that one driver acts for the cluster, and it drives each split or
/// merge as any client would (`ShardMover`), so it is exactly the move an operator's `quorum shard split` or `merge`
/// makes: resumable, and checked by every replica. One move at a time, and none while another is under way.
final class SpanDriver: Sendable {
    private let host: NodeHost
    private let keysMax: Int?
    private let requestsPerSecondMax: Int?
    private let interval: Duration
    private let logger: Logger

    init(host: NodeHost, keysMax: Int?, requestsPerSecondMax: Int?, interval: Duration = .seconds(1)) {
        self.host = host
        self.keysMax = keysMax
        self.requestsPerSecondMax = requestsPerSecondMax
        self.interval = interval
        logger = NodeHost.logger("quorum.spans", node: host.configuration.node)
    }

    /// Checks every `interval` until the task is cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard let endpoints = try? await host.loop.submit({ self.endpointsIfLeading() }).get(), !endpoints.isEmpty
            else { continue }
            do {
                try await moveOneSpan(endpoints: endpoints)
            } catch {
                logger.info("no split or merge this round: \(error)")
            }
        }
    }

    /// The cluster's client addresses if this node leads group 1, else nil.
    private func endpointsIfLeading() -> [String]? {
        guard host.clusterGroup.groupStatus.leader == host.configuration.node else { return nil }
        return host.addressBook.members.sorted().compactMap { node in
            host.addressBook.address(of: node).map { "\($0.host):\($0.clientPort)" }
        }
    }

    private func moveOneSpan(endpoints: [String]) async throws(QuorumClientError) {
        let metadata = QuorumClient(endpoints: endpoints, timeout: .seconds(5), group: ShardMap.group)
        let map = try await metadata.shardMap()
        await metadata.close()
        guard map.migrations.isEmpty else { return }
        for keyspace in map.keyspaces {
            let pieces = keyspace.owners.pieces
            var sizes: [SpanSize] = []
            var splitKeys: [[UInt8]?] = []
            for piece in pieces {
                let (size, splitKey) = try await measure(piece.span, in: piece.value, endpoints)
                sizes.append(size)
                splitKeys.append(splitKey)
            }
            for (piece, (size, splitKey)) in zip(pieces, zip(sizes, splitKeys)) {
                guard let reason = splitReason(size), let at = splitKey,
                    let target = map.splitTarget(from: piece.value),
                    let upper = KeySpan(start: at, end: piece.span.end)
                else { continue }
                let destination = "at a \(at.count)-byte key; upper part to group \(target.rawValue)"
                logger.notice("splitting \(piece.span) of group \(piece.value.rawValue) (\(reason)) \(destination)")
                _ = try await ShardMover(endpoints: endpoints).move(.span(upper), to: target)
                return
            }
            if let keysMax,
                let upper = ShardMap.mergeCandidate(
                    sizes, keysMax: keysMax / 4, requestsPerSecondMax: requestsPerSecondMax.map { $0 / 2 } ?? .max)
            {
                let (piece, into) = (pieces[upper], pieces[upper - 1].value)
                let source = "\(piece.span) of group \(piece.value.rawValue) (\(sizes[upper].keys) keys)"
                let target = "group \(into.rawValue)'s span before it (\(sizes[upper - 1].keys) keys)"
                logger.notice("merging \(source) into \(target)")
                _ = try await ShardMover(endpoints: endpoints).move(.span(piece.span), to: into)
                return
            }
        }
    }

    /// Why a span of this size splits, or nil.
    private func splitReason(_ size: SpanSize) -> String? {
        if let keysMax, size.keys > keysMax { return "\(size.keys) keys" }
        if let requestsPerSecondMax, size.requestsPerSecond > requestsPerSecondMax {
            return "\(size.requestsPerSecond) requests a second"
        }
        return nil
    }

    /// The span's keys, as its group's leader has them, and its load, summed over the nodes that serve it (each only
    /// if a limit asks for it); and where it would split: at its median key when over the key limit, else where the
    /// busiest node's requests divide in halves. A node that does not answer counts no load.
    private func measure(_ span: KeySpan, in group: GroupID, _ endpoints: [String]) async throws(QuorumClientError)
        -> (SpanSize, splitKey: [UInt8]?)
    {
        try await withOwner(group, endpoints) { owner throws(QuorumClientError) in
            let keys = keysMax == nil ? 0 : try await owner.range(Self.whole(span, countOnly: true)).count
            var loads: [SpanLoad] = []
            if requestsPerSecondMax != nil {
                for endpoint in endpoints {
                    if let load = try? await owner.spanLoad(span, at: endpoint) { loads.append(load) }
                }
            }
            let size = SpanSize(keys: keys, requestsPerSecond: loads.reduce(0) { $0 + $1.requestsPerSecond })
            if let keysMax, keys > keysMax {
                return (size, try await Self.medianKey(of: span, holding: keys, from: owner))
            }
            return (size, loads.max { $0.requestsPerSecond < $1.requestsPerSecond }?.splitKey)
        }
    }

    private func withOwner<Result>(
        _ group: GroupID, _ endpoints: [String], _ body: (QuorumClient) async throws(QuorumClientError) -> Result
    ) async throws(QuorumClientError) -> Result {
        try await QuorumClient.using(QuorumClient(endpoints: endpoints, timeout: .seconds(5), group: group), body)
    }

    private static func whole(_ span: KeySpan, countOnly: Bool = false, limit: Int = 0) -> RangeRequest {
        RangeRequest(key: span.start, rangeEnd: span.end ?? [0], limit: limit, keysOnly: true, countOnly: countOnly)
    }

    /// The span's median key, unless it is the span's first key (nothing to split off below it).
    private static func medianKey(of span: KeySpan, holding count: Int, from owner: QuorumClient)
        async throws(QuorumClientError) -> [UInt8]?
    {
        guard let median = try await owner.range(whole(span, limit: count / 2 + 1)).kvs.last?.key,
            median != span.start
        else { return nil }
        return median
    }
}
