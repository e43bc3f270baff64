import Foundation
import QuorumConsensus

/// What the cluster dashboard remembers of each member: a bounded ring of readings of its `/metrics`, taken on a
/// timer by `DashboardSampler`, and since when it has failed to answer. A value with no I/O: the sampler records
/// into it, the page renders a copy of it.
struct DashboardHistory {
    /// The figures of one member's `/metrics` at one moment that the page shows; counters and histograms are
    /// cumulative, turned into rates between two readings.
    struct Reading {
        var at: Date
        var isLeader: Bool
        var hasLeader: Bool
        var term: Double
        var commitIndex: Double
        var appliedIndex: Double
        var groups: Double?
        var groupsLed: Double?
        var keys: Double?
        var proposalsPending: Double?
        var diskFreeBytes: Double?
        var diskSizeBytes: Double?
        var requests: Double
        var leaderChanges: Double
        var requestDuration: MetricSamples.Histogram
        var fsyncDuration: MetricSamples.Histogram

        init(at: Date, metrics: MetricSamples) {
            self.at = at
            isLeader = metrics.value("quorum_server_is_leader") == 1
            hasLeader = metrics.value("quorum_server_has_leader") == 1
            term = metrics.value("quorum_server_term") ?? 0
            commitIndex = metrics.value("quorum_server_commit_index") ?? 0
            appliedIndex = metrics.value("quorum_server_applied_index") ?? 0
            groups = metrics.value("quorum_server_groups")
            groupsLed = metrics.value("quorum_server_groups_led")
            keys = metrics.value("quorum_mvcc_keys")
            proposalsPending = metrics.value("quorum_server_proposals_pending")
            diskFreeBytes = metrics.value("quorum_disk_data_dir_free_bytes")
            diskSizeBytes = metrics.value("quorum_disk_data_dir_size_bytes")
            requests = metrics.value("quorum_server_requests_total") ?? 0
            leaderChanges = metrics.value("quorum_server_leader_changes_seen_total") ?? 0
            requestDuration = metrics.histogram("quorum_server_request_duration_seconds")
            fsyncDuration = metrics.histogram("quorum_disk_wal_fsync_duration_seconds")
        }
    }

    /// One member's record: its latest readings, oldest first, and its current failure to answer, if any.
    struct Record {
        var readings: [Reading] = []
        var unreachableSince: Date?
        var failure: String?

        var latest: Reading? { readings.last }
        var isReachable: Bool { unreachableSince == nil && !readings.isEmpty }
    }

    /// Readings kept per member; the oldest is dropped when one more arrives.
    let capacity: Int
    private(set) var records: [NodeID: Record] = [:]

    init(capacity: Int) {
        precondition(capacity > 1, "rates need two readings")
        self.capacity = capacity
    }

    mutating func record(_ reading: Reading, of node: NodeID) {
        var record = records[node] ?? Record()
        record.readings.append(reading)
        if record.readings.count > capacity { record.readings.removeFirst(record.readings.count - capacity) }
        record.unreachableSince = nil
        record.failure = nil
        records[node] = record
    }

    /// `node` did not answer at `time`: it is unreachable from then until it answers again.
    mutating func recordFailure(of node: NodeID, at time: Date, reason: String) {
        var record = records[node] ?? Record()
        record.unreachableSince = record.unreachableSince ?? time
        record.failure = reason
        records[node] = record
    }

    /// Forgets members no longer in the configuration, so that the history is bounded by the members there are.
    mutating func keepOnly(_ members: Set<NodeID>) {
        records = records.filter { members.contains($0.key) }
    }

    /// The reachable member that says it leads in the highest term, if any does.
    var leader: NodeID? {
        records.filter { $0.value.isReachable && $0.value.latest?.isLeader == true }
            .max { ($0.value.latest?.term ?? 0, $1.key.rawValue) < ($1.value.latest?.term ?? 0, $0.key.rawValue) }?.key
    }

    /// One point of a chart: a figure over the interval between two readings, nil where there is none (the member
    /// did not answer for longer than `gapAfter`, or nothing was observed).
    struct Point {
        var at: Date
        var value: Double?
    }

    /// `figure` of each interval between `node`'s consecutive readings.
    func series(of node: NodeID, gapAfter: TimeInterval, _ figure: (_ from: Reading, _ to: Reading) -> Double?)
        -> [Point]
    {
        let readings = records[node]?.readings ?? []
        return zip(readings, readings.dropFirst()).map { from, to in
            let seconds = to.at.timeIntervalSince(from.at)
            return Point(at: to.at, value: seconds > 0 && seconds <= gapAfter ? figure(from, to) : nil)
        }
    }

    /// Requests answered per second between two readings.
    static func throughput(_ from: Reading, _ to: Reading) -> Double? {
        let seconds = to.at.timeIntervalSince(from.at)
        return to.requests >= from.requests && seconds > 0 ? (to.requests - from.requests) / seconds : nil
    }

    /// Leader changes a member saw between two readings.
    static func leaderChanges(_ from: Reading, _ to: Reading) -> Double? {
        to.leaderChanges >= from.leaderChanges ? to.leaderChanges - from.leaderChanges : nil
    }

    static func requestLatency(_ quantile: Double) -> (Reading, Reading) -> Double? {
        { from, to in to.requestDuration.since(from.requestDuration).quantile(quantile) }
    }

    static func fsyncLatency(_ quantile: Double) -> (Reading, Reading) -> Double? {
        { from, to in to.fsyncDuration.since(from.fsyncDuration).quantile(quantile) }
    }
}
