import QuorumConsensus
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

    @Test("the page names the leader, marks a node without one, and escapes what it shows")
    func page() {
        let status = NodeStatus(
            node: NodeID(2), role: "follower", term: Term(3), leader: nil, commitIndex: LogIndex(9),
            appliedIndex: LogIndex(7), lastIndex: LogIndex(9), voters: [NodeID(1), NodeID(2)], learners: [NodeID(3)])
        let members = [
            Dashboard.Member(
                id: NodeID(1), isVoter: true, address: MemberAddress(host: "a<b", peerPort: 1, clientPort: 2)),
            Dashboard.Member(id: NodeID(2), isVoter: true, address: nil, httpAddress: "127.0.0.1:7302"),
            Dashboard.Member(id: NodeID(3), isVoter: false, address: nil, httpAddress: "127.0.0.1:7303"),
        ]
        let page = Dashboard.page(status: status, members: members, metrics: MetricSamples(exposition: Self.exposition))
        #expect(page.contains(#"<span class="badge bad">follower</span>"#), "no leader known is shown as trouble")
        #expect(page.contains("leader: none"))
        #expect(page.contains("peers a&lt;b:1, clients a&lt;b:2") && !page.contains("a<b"))
        #expect(page.contains("<td>node 3</td><td>learner</td>"))
        // Other members' pages are linked where their HTTP address is known; this node's own is not.
        #expect(page.contains(#"<a href="http://127.0.0.1:7303/dashboard">its page</a>"#))
        #expect(!page.contains("127.0.0.1:7302/dashboard"))
        #expect(page.contains(#"<tr><th>waiting to apply</th><td class="number">2</td></tr>"#))
        #expect(page.contains(#"<tr><th>write</th><td class="number">7</td></tr>"#))
        #expect(page.contains(#"<tr><th>p50 (from buckets)</th><td class="number">1.00 ms</td></tr>"#))
        #expect(page.contains(#"<tr><th>mean</th><td class="number">1.20 ms</td></tr>"#))
    }
}
