import Foundation
import QuorumClient
import Testing

extension ClusterTests {
    @Test(
        "the cluster dashboard in headless Chromium: it shows the leader; after the leader is killed a survivor's page shows the new one and the dead node unreachable, and once alone, that it is",
        .enabled(if: Chromium.path != nil, "chromium is not on PATH; install the Debian package chromium"))
    func dashboardInBrowser() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let http = HTTPClient()
        let leader = try await http.awaitLeader(cluster)
        let survivors = cluster.members.filter { $0.id != leader.id }

        // Every member answers the leader's sampler once each has said where it serves HTTP (in its hello).
        try await write(to: leader, for: .seconds(2), http)
        #expect(try await pageOf(leader, http, shows: "3 members, 3 answering"))
        let before = try await Chromium.dom(of: leader.httpEndpoint + "/dashboard")
        #expect(before.contains(#"id="leader">node \#(leader.id) (term"#), "\(before)")
        #expect(before.contains(#"data-node="\#(leader.id)" data-role="leader" data-health="healthy""#))
        for survivor in survivors {
            #expect(before.contains(#"data-node="\#(survivor.id)" data-role="follower" data-health="healthy""#))
        }
        #expect(before.contains(#"<span class="badge good">no alerts</span>"#))
        // A node samples only while its page is viewed: the survivor's is open before the leader dies.
        let watcher = survivors[0]
        #expect(try await pageOf(watcher, http, shows: #"id="leader">node \#(leader.id) (term"#))

        // A lock held through the leader's death, so that the page has a queue to list.
        let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(15))
        let hold = try await client.lock("nightly-report", ttl: .seconds(20))

        cluster.kill(leader.id)
        #expect(
            try await pageOf(
                watcher, http, shows: #"data-node="\#(leader.id)" data-role="leader" data-health="unreachable""#),
            "the survivor's page never showed node \(leader.id) unreachable")
        let newLeader = try await http.awaitLeader(cluster)
        #expect(newLeader.id != leader.id)
        try await write(to: newLeader, for: .seconds(2), http)
        #expect(try await pageOf(watcher, http, shows: #"id="leader">node \#(newLeader.id) (term"#))

        let after = try await Chromium.dom(of: watcher.httpEndpoint + "/dashboard")
        #expect(after.contains(#"id="leader">node \#(newLeader.id) (term"#), "\(after)")
        #expect(after.contains(#"data-node="\#(newLeader.id)" data-role="leader" data-health="healthy""#))
        #expect(after.contains("node \(leader.id) unreachable since"), "an alert names the dead node")
        #expect(after.contains("3 members, 2 answering"))
        #expect(
            after.contains(
                #"<td>locks</td><td>nightly-report</td><td class="number">1</td><td class="number">\#(hold.token)</td>"#
            ))

        // The README's picture is refreshed on request only, so that a test run leaves the checkout as it was.
        let screenshot =
            ProcessInfo.processInfo.environment["QUORUM_UPDATE_SCREENSHOT"] == "1"
            ? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/images/dashboard.png")
            : cluster.directory.appendingPathComponent("dashboard.png")
        try await Chromium.screenshot(of: watcher.httpEndpoint + "/dashboard", to: screenshot)
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(screenshot.path) is not a PNG")
        try await hold.unlock()
        await client.close()

        // The watcher loses its last peer (the new leader, or the follower if the watcher leads): its page still
        // renders, and says so.
        let last = try #require(survivors.first { $0.id != watcher.id })
        cluster.kill(last.id)
        #expect(try await pageOf(watcher, http, shows: "reaches none of the other members"))
        #expect(try await pageOf(watcher, http, shows: "no leader: no member that answers says it leads"))
        let alone = try await Chromium.dom(of: watcher.httpEndpoint + "/dashboard")
        #expect(alone.contains("3 members, 1 answering"))
        #expect(
            alone.contains(
                #"data-node="\#(last.id)" data-role="\#(last.id == newLeader.id ? "leader" : "follower")" data-health="unreachable""#
            ))
    }

    /// Writes to `member` one key after another for `duration`, so that the charts have something to show.
    private func write(to member: ClusterProcesses.Member, for duration: Duration, _ http: HTTPClient) async throws {
        let end = ContinuousClock.now + duration
        var index = 0
        while ContinuousClock.now < end {
            _ = try await http.send("PUT", member, "/v1/kv/dashboard\(index % 100)", body: #"{"value": "v"}"#)
            index += 1
        }
    }

    /// Whether `member`'s dashboard comes to contain `text`; the sampler refreshes it every 2 s.
    private func pageOf(_ member: ClusterProcesses.Member, _ http: HTTPClient, shows text: String) async throws -> Bool
    {
        try await Self.poll { try await http.send("GET", member, "/dashboard").text.contains(text) }
    }
}

/// Headless Chromium, run for one page at a time. It may load only 127.0.0.1: every other host name fails to
/// resolve, and the background services that would call home are off. It runs under `timeout`, which ends it and
/// every process it started (its own process group) if it overruns.
enum Chromium {
    static let path = RedisTools.find("chromium")

    /// The page's DOM once loaded.
    static func dom(of url: String) async throws -> String {
        try await run(["--dump-dom", url])
    }

    static func screenshot(of url: String, to file: URL) async throws {
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = try await run(["--screenshot=\(file.path)", "--window-size=1440,980", "--hide-scrollbars", url])
    }

    private static func run(_ arguments: [String]) async throws -> String {
        guard let path, let timeout = RedisTools.find("timeout") else { throw RedisTools.ToolMissing(name: "chromium") }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("quorum-chromium-\(UUID())")
        defer { try? FileManager.default.removeItem(at: profile) }
        let options = [
            "--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=\(profile.path)", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-default-apps", "--disable-extensions", "--disable-breakpad",
            "--disable-domain-reliability", "--no-pings", "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ]
        let run = try await RedisTools.run(timeout, ["--kill-after=5", "60", path] + options + arguments, timeout: 90)
        guard run.status == 0 else { throw ChromiumFailed(status: run.status, output: run.output) }
        return run.output
    }

    struct ChromiumFailed: Error { var status: Int32; var output: String }
}
