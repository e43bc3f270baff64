import QuorumConsensus
import QuorumWire

/// The node's dashboard at `GET /dashboard` on the HTTP port: one self-contained page (no scripts, no outside
/// assets) rendered from the node's status and its own `/metrics`, refreshing itself every two seconds.
enum Dashboard {
    /// One member as the page lists it.
    struct Member {
        var id: NodeID
        var isVoter: Bool
        var address: MemberAddress?
        /// Where the member serves HTTP, when it has said so: its own page is linked.
        var httpAddress: String?
    }

    static let refreshSeconds = 2

    static func page(status: NodeStatus, members: [Member], metrics: MetricSamples) -> String {
        let node = status.node.rawValue
        let leader = status.leader.map { "node \($0.rawValue)" } ?? "none"
        let health = status.leader == nil ? "bad" : status.role == "leader" ? "good" : "plain"
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <title>Quorum node \(node)</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
            h1 { font-size: 1.4em; } h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
            table { border-collapse: collapse; } td, th { padding: .2em 1em .2em 0; text-align: left; }
            td.number { text-align: right; font-variant-numeric: tabular-nums; }
            .badge { padding: .1em .5em; border-radius: .3em; color: #fff; }
            .good { background: #2e7d32; } .plain { background: #607d8b; } .bad { background: #c62828; }
            footer { margin-top: 2em; color: #777; }
            </style></head><body>
            <h1>Quorum node \(node) <span class="badge \(health)">\(escape(status.role))</span></h1>
            <p>term \(status.term.rawValue) · leader: \(leader)</p>
            \(membersTable(members, status: status))
            \(table("Log", [
                ("commit index", "\(status.commitIndex.rawValue)"),
                ("applied index", "\(status.appliedIndex.rawValue)"),
                ("last index", "\(status.lastIndex.rawValue)"),
                ("waiting to apply", "\(status.commitIndex.rawValue - min(status.commitIndex.rawValue, status.appliedIndex.rawValue))"),
            ]))
            \(table("Store", [
                ("revision", count(metrics.value("quorum_mvcc_revision"))),
                ("compacted to", count(metrics.value("quorum_mvcc_compacted_revision"))),
                ("keys", count(metrics.value("quorum_mvcc_keys"))),
                ("leases", count(metrics.value("quorum_server_leases"))),
                ("watches served here", count(metrics.value("quorum_server_watchers"))),
            ]))
            \(table("Requests since start", NodeMetrics.RequestKind.allCases.map { kind in
                (kind.label.split(separator: "_").joined(separator: " "),
                 count(metrics.value("quorum_server_requests_total", matching: [#"type="\#(kind.label)""#])))
            } + [
                ("waiting on the log now", count(metrics.value("quorum_server_proposals_pending"))),
                ("refused by the engine", count(metrics.value("quorum_server_proposals_failed_total"))),
                ("leader changes seen", count(metrics.value("quorum_server_leader_changes_seen_total"))),
            ]))
            \(table("Disk: log syncs", diskRows(metrics)))
            <footer>Refreshes every \(refreshSeconds) s. The numbers come from <a href="/metrics">/metrics</a>;
            this node's status as JSON is at <a href="/v1/status">/v1/status</a>.</footer>
            </body></html>

            """
    }

    private static func membersTable(_ members: [Member], status: NodeStatus) -> String {
        var rows = ""
        for member in members {
            var notes: [String] = []
            if member.id == status.node { notes.append("this node") }
            if member.id == status.leader { notes.append("leader") }
            let address = member.address.map { "peers \($0.host):\($0.peerPort), clients \($0.host):\($0.clientPort)" }
            rows += "<tr><td>node \(member.id.rawValue)</td><td>\(member.isVoter ? "voter" : "learner")</td>"
            rows += "<td>\(escape(address ?? "address not known here"))</td><td>\(notes.joined(separator: ", "))</td>"
            let link = member.httpAddress.map { #"<a href="http://\#(escape($0))/dashboard">its page</a>"# } ?? ""
            rows += "<td>\(member.id == status.node ? "" : link)</td></tr>\n"
        }
        return "<h2>Members</h2>\n<table>\n\(rows)</table>"
    }

    private static func diskRows(_ metrics: MetricSamples) -> [(String, String)] {
        let name = "quorum_disk_wal_fsync_duration_seconds"
        let syncs = metrics.value(name + "_count") ?? 0
        let mean = syncs > 0 ? (metrics.value(name + "_sum") ?? 0) / syncs : nil
        return [
            ("syncs", count(syncs)),
            ("mean", milliseconds(mean)),
            ("p50 (from buckets)", milliseconds(metrics.quantile(0.5, ofHistogram: name))),
            ("p99 (from buckets)", milliseconds(metrics.quantile(0.99, ofHistogram: name))),
        ]
    }

    private static func table(_ title: String, _ rows: [(String, String)]) -> String {
        let body = rows.map { "<tr><th>\(escape($0.0))</th><td class=\"number\">\(escape($0.1))</td></tr>" }
        return "<h2>\(escape(title))</h2>\n<table>\n\(body.joined(separator: "\n"))\n</table>"
    }

    private static func count(_ value: Double?) -> String {
        value.map { String(Int64($0)) } ?? "–"
    }

    private static func milliseconds(_ seconds: Double?) -> String {
        guard let seconds else { return "–" }
        let hundredths = Int64((seconds * 100_000).rounded())
        return "\(hundredths / 100).\(String(hundredths % 100 + 100).dropFirst()) ms"
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
