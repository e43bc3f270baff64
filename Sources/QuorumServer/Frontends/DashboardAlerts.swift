import Foundation
import QuorumConsensus

/// What the cluster dashboard warns about, decided from its history alone: no leader, a member that does not
/// answer, one whose log lags the leader's, a disk filling up.
struct DashboardAlert: Equatable {
    enum Severity: Equatable { case critical, warning }

    var severity: Severity
    var text: String

    /// A member this many entries behind the leader's commit index (in what it has applied) is lagging.
    static let lagEntries = 1000.0
    /// A data directory's disk with less than this fraction free is filling up.
    static let diskFreeFraction = 0.10

    static func alerts(serving: NodeID, members: [NodeID], history: DashboardHistory, now: Date) -> [DashboardAlert] {
        var alerts: [DashboardAlert] = []
        let others = members.filter { $0 != serving }
        let unreachable = others.filter { history.records[$0]?.unreachableSince != nil }
        if !others.isEmpty && unreachable.count == others.count {
            alerts.append(
                DashboardAlert(
                    severity: .critical,
                    text:
                        "node \(serving.rawValue), which serves this page, reaches none of the other members: what it shows"
                        + " of them is the last it heard"))
        }
        let leader = history.leader
        if leader == nil {
            alerts.append(DashboardAlert(severity: .critical, text: "no leader: no member that answers says it leads"))
        }
        for node in unreachable {
            guard let record = history.records[node], let since = record.unreachableSince else { continue }
            alerts.append(
                DashboardAlert(
                    severity: .critical,
                    text: "node \(node.rawValue) unreachable since \(DashboardFormat.time(since))"
                        + " (\(DashboardFormat.age(since, now: now))): \(record.failure ?? "no answer")"))
        }
        let leaderCommit = leader.flatMap { history.records[$0]?.latest?.commitIndex }
        for node in members {
            guard let record = history.records[node], record.isReachable, let reading = record.latest else { continue }
            if let leaderCommit, leaderCommit - reading.appliedIndex > lagEntries {
                alerts.append(
                    DashboardAlert(
                        severity: .warning,
                        text: "node \(node.rawValue) lags: it has applied \(Int64(reading.appliedIndex)), the leader"
                            + " has committed \(Int64(leaderCommit))"))
            }
            if let free = reading.diskFreeBytes, let size = reading.diskSizeBytes, size > 0,
                free / size < diskFreeFraction
            {
                alerts.append(
                    DashboardAlert(
                        severity: .warning,
                        text: "node \(node.rawValue)'s data directory disk is filling: \(DashboardFormat.bytes(free))"
                            + " free of \(DashboardFormat.bytes(size))"))
            }
        }
        return alerts
    }
}
