import Logging
import NIOCore
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumStore

/// Keeps the spans of range-sharded keyspaces near `--split-keys` keys: a span past it splits, the upper half from
/// its median key moving to the group that owns the fewest spans (`ShardMap.splitTarget`); two neighbouring spans
/// that together hold at most a quarter of it merge, the upper one's keys moving to the lower one's group
/// (`ShardMap.mergeCandidate`). The quarter keeps a merged span well below the split point, so it does not flap.
///
/// It runs on the node that leads group 1, so that one driver acts for the cluster, and it drives each split or
/// merge as any client would (`ShardMover`), so it is exactly the move an operator's `quorum shard split` or `merge`
/// makes: resumable, and checked by every replica. One move at a time, and none while another is under way.
final class SpanDriver: Sendable {
    private let host: NodeHost
    private let keysMax: Int
    private let interval: Duration
    private let logger: Logger

    init(host: NodeHost, keysMax: Int, interval: Duration = .seconds(1)) {
        self.host = host
        self.keysMax = keysMax
        self.interval = interval
        var logger = Logger(label: "quorum.spans")
        logger[metadataKey: "node"] = "\(host.configuration.node.rawValue)"
        self.logger = logger
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
            var keys: [Int] = []
            for piece in pieces {
                keys.append(
                    try await withOwner(piece.value, endpoints) { owner throws(QuorumClientError) in
                        try await owner.range(Self.whole(piece.span, countOnly: true)).count
                    })
            }
            for (piece, count) in zip(pieces, keys) where count > keysMax {
                guard let target = map.splitTarget(from: piece.value),
                    let at = try await withOwner(
                        piece.value, endpoints,
                        { owner throws(QuorumClientError) in
                            try await Self.medianKey(of: piece.span, holding: count, from: owner)
                        }),
                    let upper = KeySpan(start: at, end: piece.span.end)
                else { continue }
                logger.notice(
                    "splitting \(piece.span) of group \(piece.value.rawValue) (\(count) keys) at a \(at.count)-byte key; upper part to group \(target.rawValue)"
                )
                _ = try await ShardMover(endpoints: endpoints).move(.span(upper), to: target)
                return
            }
            if let upper = ShardMap.mergeCandidate(keys: keys, keysMax: keysMax / 4) {
                let (piece, into) = (pieces[upper], pieces[upper - 1].value)
                logger.notice(
                    "merging \(piece.span) of group \(piece.value.rawValue) (\(keys[upper]) keys) into group \(into.rawValue)'s span before it (\(keys[upper - 1]) keys)"
                )
                _ = try await ShardMover(endpoints: endpoints).move(.span(piece.span), to: into)
                return
            }
        }
    }

    private func withOwner<Result>(
        _ group: GroupID, _ endpoints: [String],
        _ body: (QuorumClient) async throws(QuorumClientError) -> Result
    ) async throws(QuorumClientError) -> Result {
        let owner = QuorumClient(endpoints: endpoints, timeout: .seconds(5), group: group)
        do {
            let result = try await body(owner)
            await owner.close()
            return result
        } catch {
            await owner.close()
            throw error
        }
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
