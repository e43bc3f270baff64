import Logging
import NIOCore
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumStore

/// Splits spans of range-sharded keyspaces that grew past `--split-keys` keys: the upper half, from the span's
/// median key, moves to the group that owns the fewest spans (`ShardMap.splitTarget`).
///
/// It runs on the node that leads group 1, so that one driver acts for the cluster, and it drives the split as any
/// client would (`ShardMover`), so a split is exactly the move an operator's `quorum shard split` makes: resumable,
/// and checked by every replica. One split at a time, and none while another move is under way.
final class SplitDriver: Sendable {
    private let host: NodeHost
    private let keysMax: Int
    private let interval: Duration
    private let logger: Logger

    init(host: NodeHost, keysMax: Int, interval: Duration = .seconds(1)) {
        self.host = host
        self.keysMax = keysMax
        self.interval = interval
        var logger = Logger(label: "quorum.split")
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
                try await splitOneSpan(endpoints: endpoints)
            } catch {
                logger.info("no split this round: \(error)")
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

    private func splitOneSpan(endpoints: [String]) async throws(QuorumClientError) {
        let metadata = QuorumClient(endpoints: endpoints, timeout: .seconds(5), group: ShardMap.group)
        let map = try await metadata.shardMap()
        await metadata.close()
        guard map.migrations.isEmpty else { return }
        for keyspace in map.keyspaces {
            for piece in keyspace.owners.pieces {
                guard let at = try await splitKey(of: piece.span, in: piece.value, endpoints: endpoints),
                    let upper = KeySpan(start: at, end: piece.span.end),
                    let target = map.splitTarget(from: piece.value)
                else { continue }
                logger.notice("splitting \(piece.span) of group \(piece.value.rawValue) at \(upper.start.count)-byte key; upper part to group \(target.rawValue)")
                _ = try await ShardMover(endpoints: endpoints).move(.span(upper), to: target)
                return
            }
        }
    }

    /// The span's median key if it holds more than `keysMax` keys (and the median is not its first key).
    private func splitKey(of span: KeySpan, in group: GroupID, endpoints: [String]) async throws(QuorumClientError)
        -> [UInt8]?
    {
        let owner = QuorumClient(endpoints: endpoints, timeout: .seconds(5), group: group)
        do {
            let median = try await medianKey(of: span, from: owner)
            await owner.close()
            return median
        } catch {
            await owner.close()
            throw error
        }
    }

    private func medianKey(of span: KeySpan, from owner: QuorumClient) async throws(QuorumClientError) -> [UInt8]? {
        let whole = RangeRequest(key: span.start, rangeEnd: span.end ?? [0], countOnly: true)
        let count = try await owner.range(whole).count
        guard count > keysMax else { return nil }
        let lowerHalf = RangeRequest(key: span.start, rangeEnd: span.end ?? [0], limit: count / 2 + 1, keysOnly: true)
        guard let median = try await owner.range(lowerHalf).kvs.last?.key, median != span.start else { return nil }
        return median
    }
}
