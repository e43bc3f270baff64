import Foundation
import Logging
import Synchronization
import Testing

@testable import QuorumServer

/// The process's log handler: its two formats, its run-time level and its rate limit per place in the code.
@Suite("Log settings")
struct LogSettingsTests {
    /// Collects lines instead of writing them, with a clock the test moves.
    final class Capture: Sendable {
        let lines = Mutex<[String]>([])
        let time = Mutex(Date(timeIntervalSince1970: 1_796_612_400.25))

        func settings(_ format: LogSettings.Format, level: Logger.Level = .info) -> LogSettings {
            LogSettings(
                format: format, level: level, output: { line in self.lines.withLock { $0.append(line) } },
                now: { self.time.withLock { $0 } })
        }

        func logger(_ settings: LogSettings) -> Logger {
            var logger = Logger(label: "quorum.test") { QuorumLogHandler(label: $0, settings: settings) }
            logger[metadataKey: "node"] = "2"
            return logger
        }

        var all: [String] { lines.withLock { $0 } }
    }

    @Test("text lines carry the time, level, logger and metadata; JSON lines are one object each")
    func formats() throws {
        let capture = Capture()
        capture.logger(capture.settings(.text)).notice("leading, term 3", metadata: ["group": "7"])
        #expect(capture.all == ["2026-12-07T03:00:00.250Z notice quorum.test group=7 node=2 leading, term 3"])

        let json = Capture()
        json.logger(json.settings(.json)).warning("refused \"x\"\nfrom\u{1} 3")
        let line = try #require(json.all.first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(
            object == [
                "time": "2026-12-07T03:00:00.250Z", "level": "warning", "logger": "quorum.test", "node": "2",
                "message": "refused \"x\"\nfrom\u{1} 3",
            ])
        #expect(!line.contains("\n"))
    }

    @Test("the level filters, a change reaches every logger at once, and one logger may stay quieter")
    func levels() {
        let capture = Capture()
        let settings = capture.settings(.text, level: .warning)
        let first = capture.logger(settings)
        let second = capture.logger(settings)
        first.info("hidden")
        second.error("shown")
        var quiet = second
        quiet.logLevel = .error
        settings.level = .debug
        first.debug("now shown")
        // A logger kept quieter than the process stays so.
        quiet.warning("still hidden")
        quiet.error("shown too")
        #expect(capture.all.map { $0.split(separator: " ").last! } == ["shown", "shown", "too"])
    }

    @Test("one place in the code logs at most ten lines a second; the next line says how many it held back")
    func rateLimit() {
        let capture = Capture()
        let logger = capture.logger(capture.settings(.text))
        func refuse(_ what: String) { logger.warning("refused \(what)") }
        for attempt in 0..<100 { refuse("forged message \(attempt)") }
        // Another place is not held back by the flood.
        logger.warning("another place")
        #expect(capture.all.count == 11)
        capture.time.withLock { $0 += 1 }
        refuse("after a second")
        let last = capture.all.last ?? ""
        #expect(last.hasSuffix("after a second") && last.contains("suppressed=90"), "\(last)")
    }
}

extension ClusterTests {
    @Test("a node started with --log-format json logs one JSON object per line, and PUT /v1/log-level changes its level")
    func jsonLogsAndRunTimeLevel() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        cluster.serverArguments = ["--log-format", "json", "--log-level", "notice"]
        try cluster.startAll()
        let http = HTTPClient()
        let leader = try await http.awaitLeader(cluster)

        #expect(try await http.send("GET", leader, "/v1/log-level").json["level"] as? String == "notice")
        let refused = try await http.send("PUT", leader, "/v1/log-level", body: #"{"level": "loud"}"#)
        #expect(refused.status == 400 && refused.text.contains("choose one of trace, debug"), "\(refused.text)")
        let changed = try await http.send("PUT", leader, "/v1/log-level", body: #"{"level": "info"}"#)
        #expect(changed.json["level"] as? String == "info")
        // At info the node tells of leadership; transferring it away makes it say whom it follows now.
        let other = try #require(cluster.members.first { $0.id != leader.id })
        let transfer = try await cluster.runCommand(
            ["cluster", "transfer", "\(other.id)", "--endpoints", cluster.clientEndpoints.joined(separator: ",")],
            includingErrors: true)
        #expect(transfer.status == 0, "\(transfer.output)")
        let following = try await Self.poll { cluster.output(of: leader.id).contains("following node \(other.id)") }
        #expect(following, "\(cluster.output(of: leader.id).suffix(2000))")

        let lines = cluster.output(of: leader.id).split(separator: "\n")
        #expect(lines.count >= 2)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object?["time"] != nil && object?["level"] != nil && object?["message"] != nil, "\(line)")
        }
        // Startup announcements are log lines too, and the leadership lines name their node and group.
        #expect(lines.contains { $0.contains(#""message":"node \#(leader.id) serving clients on"#) })
        #expect(lines.contains { $0.contains(#""group":"1""#) && $0.contains("following node \(other.id)") })
    }
}
