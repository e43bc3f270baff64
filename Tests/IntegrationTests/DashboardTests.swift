import Foundation
import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumStore
import QuorumWire
import Testing

@testable import QuorumServer

@Suite("Dashboard")
struct DashboardTests {
    static let exposition = """
        # HELP quorum_server_requests_total Client requests handled, by type.
        # TYPE quorum_server_requests_total counter
        quorum_server_requests_total{node="1",type="write"} 7
        quorum_server_requests_total{node="1",type="read"} 3
        quorum_mvcc_keys{node="1"} 5.0
        quorum_plain 2
        # TYPE quorum_disk_wal_fsync_duration_seconds histogram
        quorum_disk_wal_fsync_duration_seconds_bucket{node="1",le="0.001"} 50
        quorum_disk_wal_fsync_duration_seconds_bucket{node="1",le="0.002"} 90
        quorum_disk_wal_fsync_duration_seconds_bucket{node="1",le="0.004"} 100
        quorum_disk_wal_fsync_duration_seconds_bucket{node="1",le="+Inf"} 100
        quorum_disk_wal_fsync_duration_seconds_sum{node="1"} 0.12
        quorum_disk_wal_fsync_duration_seconds_count{node="1"} 100
        not a sample line
        quorum_infinite NaN
        """

    @Test("samples are read back by name and label, summed over the label sets that match")
    func readsSamples() {
        let samples = MetricSamples(exposition: Self.exposition)
        #expect(samples.value("quorum_server_requests_total", matching: [#"type="write""#]) == 7)
        #expect(samples.value("quorum_server_requests_total") == 10)
        #expect(samples.value("quorum_mvcc_keys") == 5)
        #expect(samples.value("quorum_plain") == 2)
        #expect(samples.value("quorum_server_requests_total", matching: [#"type="watch""#]) == nil)
        #expect(samples.value("absent") == nil)
        #expect(samples.value("quorum_infinite") == nil, "a value that is not a finite number is no value")
    }

    @Test("quantiles interpolate inside the bucket they fall in, as histogram_quantile does")
    func quantiles() throws {
        let samples = MetricSamples(exposition: Self.exposition)
        let name = "quorum_disk_wal_fsync_duration_seconds"
        // Rank 50 of 100 is the top of the first bucket; rank 70 is half way through the second; rank 99 is
        // nine tenths through the third.
        #expect(try #require(samples.quantile(0.5, ofHistogram: name)) == 0.001)
        #expect(abs(try #require(samples.quantile(0.7, ofHistogram: name)) - 0.0015) < 1e-12)
        #expect(abs(try #require(samples.quantile(0.99, ofHistogram: name)) - 0.0038) < 1e-12)
        #expect(MetricSamples(exposition: "").quantile(0.5, ofHistogram: name) == nil)
    }

    @Test("a histogram's observations between two readings are the difference of its buckets; a reset gives none")
    func histogramSince() throws {
        let earlier = MetricSamples.Histogram(buckets: [(0.001, 10), (0.002, 10), (.infinity, 10)])
        let later = MetricSamples.Histogram(buckets: [(0.001, 10), (0.002, 20), (.infinity, 20)])
        // The ten new observations all fell in the second bucket.
        #expect(try #require(later.since(earlier).quantile(0.5)) == 0.0015)
        #expect(later.since(later).quantile(0.5) == nil, "nothing observed in between")
        #expect(earlier.since(later).buckets.isEmpty, "the counts went back: the node restarted")
    }

    /// A member's `/metrics` as the sampler would read it.
    static func reading(
        at seconds: Double, leads: Bool = false, hasLeader: Bool = true, term: Int = 2, commit: Int = 100,
        applied: Int = 100, requests: Int = 0, leaderChanges: Int = 1, diskFree: Double = 50, diskSize: Double = 100
    ) -> DashboardHistory.Reading {
        let text = """
            quorum_server_is_leader{node="1"} \(leads ? 1 : 0)
            quorum_server_has_leader{node="1"} \(hasLeader ? 1 : 0)
            quorum_server_term{node="1"} \(term)
            quorum_server_commit_index{node="1"} \(commit)
            quorum_server_applied_index{node="1"} \(applied)
            quorum_server_groups{node="1"} 4000
            quorum_server_groups_led{node="1"} 1300
            quorum_server_requests_total{node="1",type="write"} \(requests)
            quorum_server_leader_changes_seen_total{node="1"} \(leaderChanges)
            quorum_disk_data_dir_free_bytes{node="1"} \(diskFree)
            quorum_disk_data_dir_size_bytes{node="1"} \(diskSize)
            """
        return DashboardHistory.Reading(
            at: Date(timeIntervalSince1970: seconds), metrics: MetricSamples(exposition: text))
    }

    @Test("the history keeps a bounded ring per member, and knows since when one has not answered")
    func history() {
        var history = DashboardHistory(capacity: 3)
        for second in 0..<5 { history.record(Self.reading(at: Double(second * 2)), of: NodeID(1)) }
        #expect(history.records[NodeID(1)]?.readings.map(\.at.timeIntervalSince1970) == [4, 6, 8])
        history.recordFailure(of: NodeID(2), at: Date(timeIntervalSince1970: 10), reason: "connection refused")
        history.recordFailure(of: NodeID(2), at: Date(timeIntervalSince1970: 12), reason: "connection refused")
        #expect(history.records[NodeID(2)]?.unreachableSince == Date(timeIntervalSince1970: 10), "since the first")
        #expect(history.records[NodeID(2)]?.isReachable == false)
        history.record(Self.reading(at: 14), of: NodeID(2))
        #expect(history.records[NodeID(2)]?.unreachableSince == nil && history.records[NodeID(2)]?.failure == nil)
        history.keepOnly([NodeID(2)])
        #expect(history.records.keys.sorted() == [NodeID(2)], "a removed member is forgotten")
    }

    @Test("the leader is the answering member that says it leads in the highest term")
    func leader() {
        var history = DashboardHistory(capacity: 4)
        history.record(Self.reading(at: 0, leads: true, term: 2), of: NodeID(1))
        history.record(Self.reading(at: 0, leads: true, term: 3), of: NodeID(2))
        history.record(Self.reading(at: 0, term: 3), of: NodeID(3))
        #expect(history.leader == NodeID(2), "node 1 was deposed and has not heard yet")
        history.recordFailure(of: NodeID(2), at: Date(timeIntervalSince1970: 2), reason: "timed out")
        #expect(history.leader == NodeID(1), "node 2 no longer answers")
        history.recordFailure(of: NodeID(1), at: Date(timeIntervalSince1970: 2), reason: "timed out")
        #expect(history.leader == nil)
    }

    @Test("chart series are rates between readings, with a gap where the member did not answer")
    func series() {
        var history = DashboardHistory(capacity: 10)
        for (second, requests) in [(0, 0), (2, 10), (4, 30), (12, 50), (14, 50)] {
            history.record(Self.reading(at: Double(second), requests: requests), of: NodeID(1))
        }
        let points = history.series(of: NodeID(1), gapAfter: 5, DashboardHistory.throughput)
        #expect(points.map(\.value) == [5, 10, nil, 0])
        #expect(DashboardChart.segments(points).map { $0.map(\.value) } == [[5, 10], [0]])
        #expect(history.series(of: NodeID(9), gapAfter: 5, DashboardHistory.throughput).isEmpty)
    }

    @Test("axes end at 1, 2 or 5 times a power of ten")
    func niceCeiling() {
        #expect(DashboardChart.niceCeiling(0) == 1)
        #expect(DashboardChart.niceCeiling(3) == 5)
        #expect(DashboardChart.niceCeiling(10) == 10)
        #expect(DashboardChart.niceCeiling(1234) == 2000)
        #expect(DashboardChart.niceCeiling(0.0004) == 0.0005)
    }

    @Test("alerts: a member that does not answer, no leader, a lagging member, a disk filling, an isolated page")
    func alerts() {
        let now = Date(timeIntervalSince1970: 100)
        var history = DashboardHistory(capacity: 4)
        history.record(Self.reading(at: 98, leads: true, commit: 5000, applied: 5000), of: NodeID(1))
        history.record(Self.reading(at: 98, commit: 5000, applied: 3000), of: NodeID(2))
        history.record(Self.reading(at: 98, commit: 5000, applied: 4500, diskFree: 5), of: NodeID(3))
        let members = [NodeID(1), NodeID(2), NodeID(3)]
        #expect(
            DashboardAlert.alerts(serving: NodeID(1), members: members, history: history, now: now).map(\.text) == [
                "node 2 lags: it has applied 3000, the leader has committed 5000",
                "node 3's data directory disk is filling: 5 B free of 100 B",
            ])

        history.recordFailure(of: NodeID(1), at: Date(timeIntervalSince1970: 88), reason: "connection refused")
        history.recordFailure(of: NodeID(2), at: Date(timeIntervalSince1970: 99), reason: "no answer within 1000 ms")
        let isolated = DashboardAlert.alerts(serving: NodeID(3), members: members, history: history, now: now)
        #expect(
            isolated.map(\.text) == [
                "node 3, which serves this page, reaches none of the other members: what it shows of them is the last it heard",
                "no leader: no member that answers says it leads",
                "node 1 unreachable since 00:01:28 UTC (12 s): connection refused",
                "node 2 unreachable since 00:01:39 UTC (1 s): no answer within 1000 ms",
                "node 3's data directory disk is filling: 5 B free of 100 B",
            ])
        #expect(isolated.prefix(4).allSatisfy { $0.severity == .critical })
    }

    @Test("the page shows the leader, each member's health and counts of groups, and escapes what members say")
    func page() {
        let now = Date(timeIntervalSince1970: 100)
        var history = DashboardHistory(capacity: 4)
        history.record(Self.reading(at: 96, term: 3, commit: 90, applied: 88, requests: 0), of: NodeID(1))
        history.record(Self.reading(at: 98, term: 3, commit: 90, applied: 90, requests: 20), of: NodeID(1))
        history.record(Self.reading(at: 98, leads: true, term: 3, commit: 100), of: NodeID(2))
        history.recordFailure(of: NodeID(3), at: Date(timeIntervalSince1970: 90), reason: "refused <by> peer")
        let members = [
            Dashboard.Member(
                id: NodeID(1), isVoter: true, address: MemberAddress(host: "a<b", peerPort: 1, clientPort: 2),
                httpAddress: "127.0.0.1:7301"),
            Dashboard.Member(id: NodeID(2), isVoter: true, address: nil, httpAddress: "127.0.0.1:7302"),
            Dashboard.Member(id: NodeID(3), isVoter: false, address: nil, httpAddress: nil),
        ]
        let page = Dashboard.page(serving: NodeID(1), members: members, history: history, interval: 2, now: now)
        #expect(page.contains(#"leader: <strong id="leader">node 2 (term 3)</strong>"#))
        #expect(page.contains("3 members, 2 answering"))
        #expect(page.contains(#"<tr data-node="2" data-role="leader" data-health="healthy">"#))
        #expect(page.contains(#"<tr data-node="1" data-role="follower" data-health="healthy">"#))
        #expect(page.contains(#"<td>node 1</td><td>voter, this node</td>"#))
        // Behind the leader's commit index of 100: by 10 committed, 10 applied; 4000 groups are two numbers.
        #expect(page.contains(#"<td class="number">10 / 10</td><td class="number">4000 / 1300</td>"#))
        #expect(page.contains(#"<tr data-node="3" data-role="–" data-health="unreachable" class="unreachable">"#))
        #expect(page.contains("since 00:01:30 UTC (10 s): refused &lt;by&gt; peer") && !page.contains("<by>"))
        #expect(page.contains("node 3 unreachable since 00:01:30 UTC"), "and it is an alert")
        #expect(page.contains(#"<a href="http://127.0.0.1:7302/dashboard">page</a>"#))
        #expect(page.contains("<td>HTTP address not known yet</td>"))
        // Node 1 answered 20 requests in 2 s: its throughput line ends at 10/s, the top of the axis.
        #expect(page.contains(#"aria-label="Client requests per second""#))
        #expect(page.contains(">10/s</text>"))
        #expect(page.contains("<svg") && !page.contains("<script"))
    }

    @Test("lock queues: contenders counted per name in arrival order, recipe state beside a queue ignored")
    func lockQueues() {
        func kv(_ key: String, _ revision: UInt64, _ value: String = "") -> KeyValue {
            KeyValue(
                key: Array(key.utf8), value: Array(value.utf8), createRevision: Revision(revision),
                modRevision: Revision(revision), version: 1)
        }
        let keys = [
            kv("/_quorum/locks/a/holder", 3),
            kv("/_quorum/locks/a/q/00000000000000000004", 4, "first"),
            kv("/_quorum/locks/a/q/00000000000000000007", 7),
            kv("/_quorum/locks/b/q/x/q/00000000000000000009", 9),
            kv("/_quorum/locks/c/q/", 10),
        ]
        #expect(
            DashboardLockQueue.queues(kind: "locks", keys: keys) == [
                DashboardLockQueue(
                    kind: "locks", name: "a", contenders: 2, firstToken: Revision(4), firstValue: Array("first".utf8)),
                DashboardLockQueue(
                    kind: "locks", name: "b/q/x", contenders: 1, firstToken: Revision(9), firstValue: []),
            ])
        var history = DashboardHistory(capacity: 2)
        history.record(Self.reading(at: 0, leads: true), of: NodeID(1))
        let page = Dashboard.page(
            serving: NodeID(1), members: [Dashboard.Member(id: NodeID(1), isVoter: true)], history: history,
            locks: (DashboardLockQueue.queues(kind: "locks", keys: keys), cut: true), interval: 2,
            now: Date(timeIntervalSince1970: 1))
        #expect(
            page.contains(
                #"<tr><td>locks</td><td>a</td><td class="number">2</td><td class="number">4</td><td>first</td></tr>"#))
        #expect(page.contains("the first 1000 contenders of each kind only"))
    }

    @Test("figures no Int64 holds, as a hostile member might send, are shown as unknown instead of trapping")
    func hugeFigures() {
        #expect(DashboardFormat.count(1e300) == "–")
        #expect(DashboardFormat.decimal(-1e300, places: 1) == "–")
        #expect(DashboardFormat.decimal(-1.25, places: 1) == "-1.3")
        #expect(DashboardFormat.bytes(1536) == "1.5 KiB")
        #expect(DashboardFormat.time(Date(timeIntervalSince1970: 86_400 + 3723)) == "01:02:03 UTC")
    }
}

/// The sampler's fetch is bounded: a member that never answers, answers too much, or is not there costs at most
/// the timeout and the byte limit, and says which it was.
@Suite("Dashboard fetch")
struct DashboardFetchTests {
    /// A server on 127.0.0.1 that answers each connection's first bytes with `response`, or never answers.
    final class CannedServer: Sendable {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel: any Channel

        init(response: String?) throws {
            channel = try ServerBootstrap(group: group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Answer(response: response))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).wait()
        }

        var address: String { "127.0.0.1:\(channel.localAddress?.port ?? 0)" }

        func close() async throws {
            try await channel.close()
            try await group.shutdownGracefully()
        }

        private final class Answer: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            let response: String?
            init(response: String?) { self.response = response }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                guard let response else { return }
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
            }
        }
    }

    let fetchLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    func fetch(from address: String) async -> Result<String, DashboardFetch.Failure> {
        do {
            return .success(
                try await DashboardFetch.get(
                    "/metrics", from: address, on: fetchLoops, timeout: .milliseconds(300), bytesMax: 1024))
        } catch {
            return .failure(error as? DashboardFetch.Failure ?? DashboardFetch.Failure("\(error)"))
        }
    }

    func outcome(of response: String?) async throws -> Result<String, DashboardFetch.Failure> {
        let server = try CannedServer(response: response)
        let result = await fetch(from: server.address)
        try await server.close()
        return result
    }

    @Test("a body within the limit is read, whether its length is given or it comes in chunks")
    func answers() async throws {
        let plain = try await outcome(of: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect((try? plain.get()) == "hello")
        let chunked = try await outcome(
            of: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n")
        #expect((try? chunked.get()) == "hello")
        try await fetchLoops.shutdownGracefully()
    }

    @Test("too large, too slow, an error status, nobody listening, a malformed address: each refused, saying why")
    func refusals() async throws {
        let large = String(repeating: "x", count: 2000)
        let tooLarge = try await outcome(of: "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n\(large)")
        #expect(tooLarge.failure == "it answered more than 1024 bytes")
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try await outcome(of: nil).failure == "no answer within 300 ms")
        #expect(start.duration(to: clock.now) < .seconds(5), "the timeout bounds the wait")
        #expect(try await outcome(of: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").failure == "it answered 404")
        let closed = try CannedServer(response: nil)
        let address = closed.address
        try await closed.close()
        #expect(await fetch(from: address).failure == "connection refused")
        #expect(await fetch(from: "no-port").failure == "'no-port' is not HOST:PORT")
        try await fetchLoops.shutdownGracefully()
    }
}

extension Result where Failure == DashboardFetch.Failure {
    var failure: String? {
        if case .failure(let failure) = self { return failure.description }
        return nil
    }
}
