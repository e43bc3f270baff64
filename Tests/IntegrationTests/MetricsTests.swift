import Foundation
import Testing

extension ClusterTests {
    @Test(
        "GET /metrics and /dashboard: every node reports who leads, its log and store, its requests, its fsyncs, and leader changes"
    )
    func prometheusMetrics() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let http = HTTPClient()
        let leader = try await http.awaitLeader(cluster)
        for index in 0..<5 {
            #expect(try await http.send("PUT", leader, "/v1/kv/m\(index)", body: #"{"value": "v"}"#).status == 200)
        }
        let follower = try #require(cluster.members.first { $0.id != leader.id })
        #expect(try await http.send("GET", follower, "/v1/kv/m0").status == 200)

        /// One scrape of `member`, as `name{labels}` to value.
        func scrape(_ member: ClusterProcesses.Member) async throws -> [String: Double] {
            let answer = try await http.send("GET", member, "/metrics")
            #expect(answer.status == 200)
            #expect(answer.headers["Content-Type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            var samples: [String: Double] = [:]
            for line in answer.text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                    Issue.record("not a sample line: \(line)")
                    continue
                }
                samples[String(line[..<space])] = value
            }
            return samples
        }

        var leaders = 0
        for member in cluster.members {
            let node = #"{node="\#(member.id)"}"#
            let samples = try await scrape(member)
            #expect(samples["quorum_server_has_leader" + node] == 1, "node \(member.id)")
            leaders += Int(samples["quorum_server_is_leader" + node] ?? 0)
            #expect((samples["quorum_disk_wal_fsync_duration_seconds_count" + node] ?? 0) > 0, "node \(member.id)")
            #expect((samples["quorum_server_leader_changes_seen_total" + node] ?? 0) >= 1)
            #expect(samples["quorum_cluster_voters" + node] == 3)
            #expect((samples["quorum_server_commit_index" + node] ?? 0) >= 5)
        }
        #expect(leaders == 1)

        let onLeader = try await scrape(leader)
        let leaderNode = #"node="\#(leader.id)""#
        #expect(onLeader["quorum_mvcc_keys{\(leaderNode)}"] == 5)
        #expect((onLeader["quorum_mvcc_revision{\(leaderNode)}"] ?? 0) >= 5)
        #expect((onLeader[#"quorum_server_requests_total{\#(leaderNode),type="write"}"#] ?? 0) >= 5)
        let onFollower = try await scrape(follower)
        #expect(onFollower[#"quorum_server_requests_total{node="\#(follower.id)",type="linearizable_read"}"#] == 1)

        // The dashboard shows the whole cluster, for people; DashboardBrowserTests checks what it shows.
        let page = try await http.send("GET", leader, "/dashboard")
        #expect(page.status == 200)
        #expect(page.headers["Content-Type"]?.hasPrefix("text/html") == true)
        #expect(page.text.contains("<h1>Quorum cluster</h1>"))
        let onFollowerAgain = try await scrape(follower)
        #expect((onFollowerAgain[#"quorum_server_request_duration_seconds_count{node="\#(follower.id)"}"#] ?? 0) >= 1)
        #expect((onFollowerAgain[#"quorum_disk_data_dir_size_bytes{node="\#(follower.id)"}"#] ?? 0) > 0)

        // The leader dies: a survivor counts the change and reports the new leader. The count is taken once a tick,
        // so "no leader" and "the new one" may come within one tick and count once.
        let changesBefore = onFollower["quorum_server_leader_changes_seen_total{node=\"\(follower.id)\"}"] ?? 0
        cluster.kill(leader.id)
        #expect(
            try await Self.poll {
                let samples = try await scrape(follower)
                let node = #"{node="\#(follower.id)"}"#
                return (samples["quorum_server_leader_changes_seen_total" + node] ?? 0) >= changesBefore + 1
                    && samples["quorum_server_has_leader" + node] == 1
            }, "the survivor never counted the new leader")
    }
}
