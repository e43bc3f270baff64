import Foundation
import QuorumConsensus
import QuorumWire

/// The cluster dashboard at `GET /dashboard` on any node's HTTP port: one self-contained page (no script, no outside
/// asset, charts as inline SVG) of every member, rendered from what `DashboardSampler` has gathered, so that it
/// renders the same whether the other members answer or not, and says which do not.
enum Dashboard {
    /// One member as the serving node's configuration of group 1 lists it.
    struct Member {
        var id: NodeID
        var isVoter: Bool
        var address: MemberAddress?
        /// Where the member serves HTTP, when it has said so in its hello: it is sampled there and linked.
        var httpAddress: String?
    }

    static let refreshSeconds = 2
    private static let colors = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    ]

    /// - Parameter interval: how often the history is sampled, in seconds: a longer silence is a gap in the charts.
    /// - Parameter locks: the lock queues in the serving node's replica of group 1, and whether they were cut short.
    static func page(
        serving: NodeID, members: [Member], history: DashboardHistory,
        locks: (queues: [DashboardLockQueue], cut: Bool) = ([], false), interval: TimeInterval, now: Date
    ) -> String {
        let alerts = DashboardAlert.alerts(serving: serving, members: members.map(\.id), history: history, now: now)
        let leader = history.leader
        let answering = members.count { history.records[$0.id]?.isReachable == true }
        let leaderText =
            leader.map { node in
                "node \(node.rawValue) (term \(DashboardFormat.count(history.records[node]?.latest?.term)))"
            } ?? "none"
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <title>Quorum cluster (node \(serving.rawValue))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
            h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
            table { border-collapse: collapse; } td, th { padding: .25em .9em .25em 0; text-align: left; }
            th { font-weight: 600; border-bottom: 1px solid #ccc; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
            tr.unreachable td { color: #888; }
            .badge { padding: .1em .5em; border-radius: .3em; color: #fff; white-space: nowrap; }
            .good { background: #2e7d32; } .plain { background: #607d8b; } .bad { background: #c62828; } .warn { background: #ef6c00; }
            ul.alerts { list-style: none; padding: 0; } ul.alerts li { margin: .3em 0; }
            .charts { display: flex; flex-wrap: wrap; gap: 1em 1.5em; } .charts figure { margin: 0; }
            figcaption { font-weight: 600; margin-bottom: .2em; } .legend span { margin-right: 1em; }
            svg.chart text { font-size: 10px; fill: #555; } svg.chart line.grid { stroke: #e0e0e0; }
            footer { margin-top: 2em; color: #777; max-width: 60em; }
            </style></head><body>
            <h1>Quorum cluster</h1>
            <p>leader: <strong id="leader">\(leaderText)</strong> · \(members.count) members, \(answering) answering ·
            served by node \(serving.rawValue) at \(DashboardFormat.time(now))</p>
            \(alertList(alerts))
            \(membersTable(members, serving: serving, history: history, now: now))
            \(charts(members, history: history, interval: interval, now: now))
            \(lockTable(locks.queues, cut: locks.cut, serving: serving))
            <footer>Refreshes every \(refreshSeconds) s. While this page is viewed, node \(serving.rawValue) reads its own
            metrics every \(DashboardFormat.decimal(interval, places: 0)) s and fetches every other member's
            <code>/metrics</code> over HTTP (\(DashboardSampler.fetchTimeoutText) timeout), keeping the last
            \(history.capacity) readings of each; it stops \(Int(DashboardSampler.watchedFor / 60)) minutes after the
            last view, and starts a new history
            at the next. A member that does not answer is unreachable from this node, whatever the others see.
            Role, term, log indexes, keys and requests waiting on the log are those of group 1, the cluster's own;
            requests, latencies, fsyncs and leader changes count every group on the node. "Behind" is the leader's commit index less the member's commit and applied
            indexes. This node's <a href="/metrics">/metrics</a> and <a href="/v1/status">/v1/status</a>.</footer>
            </body></html>

            """
    }

    private static func alertList(_ alerts: [DashboardAlert]) -> String {
        guard !alerts.isEmpty else { return #"<p id="alerts"><span class="badge good">no alerts</span></p>"# }
        let items = alerts.map { alert in
            let (style, word) = alert.severity == .critical ? ("bad", "critical") : ("warn", "warning")
            return #"<li><span class="badge \#(style)">\#(word)</span> \#(DashboardFormat.escape(alert.text))</li>"#
        }
        return #"<h2>Alerts</h2><ul class="alerts" id="alerts">\#(items.joined())</ul>"#
    }

    private static func membersTable(
        _ members: [Member], serving: NodeID, history: DashboardHistory, now: Date
    ) -> String {
        let leaderCommit = history.leader.flatMap { history.records[$0]?.latest?.commitIndex }
        var rows = ""
        for member in members {
            let record = history.records[member.id]
            let reading = record?.latest
            let role = reading.map { $0.isLeader ? "leader" : $0.hasLeader ? "follower" : "no leader known" } ?? "–"
            let health: (key: String, cell: String)
            if let since = record?.unreachableSince {
                let why = DashboardFormat.escape(record?.failure ?? "no answer")
                health = (
                    "unreachable",
                    #"<span class="badge bad">unreachable</span> since \#(DashboardFormat.time(since))"#
                        + " (\(DashboardFormat.age(since, now: now))): \(why)"
                )
            } else if let reading {
                health =
                    reading.hasLeader
                    ? ("healthy", #"<span class="badge good">healthy</span>"#)
                    : ("no-leader", #"<span class="badge bad">no leader known</span>"#)
            } else {
                health = ("unknown", #"<span class="badge plain">not sampled yet</span>"#)
            }
            var notes: [String] = [member.isVoter ? "voter" : "learner"]
            if member.id == serving { notes.append("this node") }
            let behind = [reading?.commitIndex, reading?.appliedIndex].map { index in
                guard let index, let leaderCommit else { return "–" }
                return DashboardFormat.count(max(0, leaderCommit - index))
            }
            let groups = "\(DashboardFormat.count(reading?.groups)) / \(DashboardFormat.count(reading?.groupsLed))"
            let disk: String =
                if let free = reading?.diskFreeBytes, let size = reading?.diskSizeBytes, size > 0 {
                    "\(DashboardFormat.bytes(free)) (\(DashboardFormat.decimal(100 * free / size, places: 0)) %)"
                } else { "–" }
            let links = member.httpAddress.map { address in
                let base = "http://\(DashboardFormat.escape(address))"
                return #"<a href="\#(base)/dashboard">page</a> <a href="\#(base)/metrics">metrics</a>"#
            }
            let lastSeen =
                record?.unreachableSince != nil
                ? reading.map { " (last seen \(DashboardFormat.time($0.at)))" } ?? "" : ""
            rows += #"<tr data-node="\#(member.id.rawValue)" data-role="\#(role)" data-health="\#(health.key)""#
            rows += record?.unreachableSince != nil ? #" class="unreachable">"# : ">"
            rows += "<td>node \(member.id.rawValue)</td><td>\(notes.joined(separator: ", "))</td>"
            rows += "<td>\(role)\(lastSeen)</td><td>\(health.cell)</td>"
            rows += [
                DashboardFormat.count(reading?.term), DashboardFormat.count(reading?.commitIndex),
                DashboardFormat.count(reading?.appliedIndex), "\(behind[0]) / \(behind[1])", groups,
                DashboardFormat.count(reading?.proposalsPending), DashboardFormat.count(reading?.keys), disk,
            ].map { #"<td class="number">\#($0)</td>"# }.joined()
            rows += "<td>\(links ?? "HTTP address not known yet")</td></tr>\n"
        }
        return """
            <h2>Members</h2>
            <table id="members">
            <tr><th>node</th><th>membership</th><th>role</th><th>health</th><th>term</th><th>commit index</th>
            <th>applied index</th><th>behind leader (commit / applied)</th><th>groups hosted / led</th>
            <th>requests waiting on the log</th><th>keys</th><th>disk free</th><th></th></tr>
            \(rows)</table>
            """
    }

    /// The longest queues first; a few rows, whatever the number of locks.
    static let lockRowsMax = 20

    private static func lockTable(_ queues: [DashboardLockQueue], cut: Bool, serving: NodeID) -> String {
        let source =
            "as node \(serving.rawValue)'s replica of group 1 has them"
            + (cut ? ", the first \(DashboardLockQueue.keysPerKindMax) contenders of each kind only" : "")
        guard !queues.isEmpty else {
            return "<h2>Lock queues</h2>\n<p>No lock, semaphore or election has a contender (\(source)).</p>"
        }
        let longest = queues.enumerated().sorted {
            ($1.element.contenders, $0.offset) < ($0.element.contenders, $1.offset)
        }
        let rows = longest.prefix(lockRowsMax).map { _, queue in
            let value =
                String(validating: queue.firstValue.prefix(60), as: UTF8.self) ?? "(\(queue.firstValue.count) bytes)"
            return "<tr><td>\(queue.kind)</td><td>\(DashboardFormat.escape(queue.name))</td>"
                + #"<td class="number">\#(queue.contenders)</td><td class="number">\#(queue.firstToken.rawValue)</td>"#
                + "<td>\(DashboardFormat.escape(value))</td></tr>"
        }
        let more = queues.count > lockRowsMax ? "<p>and \(queues.count - lockRowsMax) shorter queues.</p>" : ""
        return """
            <h2>Lock queues</h2>
            <p>The first contender holds a lock or leads an election (a read-write lock or a semaphore may have more
            holders); \(source).</p>
            <table id="locks"><tr><th>kind</th><th>name</th><th>contenders</th><th>first's token</th><th>first's value</th></tr>
            \(rows.joined(separator: "\n"))</table>\(more)
            """
    }

    private static func charts(
        _ members: [Member], history: DashboardHistory, interval: TimeInterval, now: Date
    ) -> String {
        // The window the ring holds, or less while it fills, so that a young cluster's lines are not squeezed.
        let earliest = history.records.values.compactMap { $0.readings.first?.at }.min() ?? now
        let from = max(now.addingTimeInterval(-interval * Double(history.capacity)), min(earliest, now))
        let gapAfter = interval * 2.5
        func series(
            dashed: Bool = false, suffix: String = "",
            _ figure: @escaping (DashboardHistory.Reading, DashboardHistory.Reading) -> Double?
        ) -> [DashboardChart.Series] {
            members.enumerated().map { index, member in
                DashboardChart.Series(
                    label: "node \(member.id.rawValue)\(suffix)", color: colors[index % colors.count], dashed: dashed,
                    points: history.series(of: member.id, gapAfter: gapAfter, figure))
            }
        }
        let perSecond = { (value: Double) in "\(DashboardFormat.decimal(value, places: value < 10 ? 1 : 0))/s" }
        let milliseconds = { (seconds: Double) in
            "\(DashboardFormat.decimal(seconds * 1000, places: seconds >= 0.01 ? 0 : seconds >= 0.001 ? 1 : 2)) ms"
        }
        let charts = [
            DashboardChart(
                title: "Client requests per second", format: perSecond, series: series(DashboardHistory.throughput),
                from: from, to: now),
            DashboardChart(
                title: "Request latency: p99 solid, p50 dashed", format: milliseconds,
                series: series(DashboardHistory.requestLatency(0.99))
                    + series(dashed: true, suffix: " p50", DashboardHistory.requestLatency(0.5)),
                from: from, to: now),
            DashboardChart(
                title: "Log fsync latency, p99", format: milliseconds,
                series: series(DashboardHistory.fsyncLatency(0.99)),
                from: from, to: now),
            DashboardChart(
                title: "Leader changes seen", format: { DashboardFormat.decimal($0, places: 0) },
                series: series(DashboardHistory.leaderChanges), from: from, to: now),
        ]
        let legend = members.enumerated().map { index, member in
            #"<span style="color: \#(colors[index % colors.count])">■ node \#(member.id.rawValue)</span>"#
        }
        let figures = charts.map { chart in
            "<figure><figcaption>\(DashboardFormat.escape(chart.title))</figcaption>\(chart.svg())</figure>"
        }
        return """
            <h2>The last \(DashboardFormat.age(from, now: now))</h2>
            <p class="legend">\(legend.joined())</p>
            <div class="charts">\(figures.joined(separator: "\n"))</div>
            """
    }
}
