import Foundation
import Prometheus
import QuorumConsensus
import QuorumStorage
import QuorumStore
import QuorumWire

/// A node's metrics, served in Prometheus's text format at `GET /metrics` on the HTTP port (docs/http.md). Names
/// follow etcd's where etcd has one, with `quorum_` for `etcd_`, so that dashboards and alerts written for etcd
/// carry over. Each server has its own registry: nothing here is process-global.
///
/// Counters and the fsync histogram are updated as things happen; gauges of the engine's and the store's state
/// are sampled when scraped (`sample`), on the node's loop, so that serving requests costs nothing for them.
final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    private let hasLeader: Gauge
    private let isLeader: Gauge
    private let term: Gauge
    private let commitIndex: Gauge
    private let appliedIndex: Gauge
    private let lastIndex: Gauge
    private let voters: Gauge
    private let learners: Gauge
    private let revision: Gauge
    private let compactedRevision: Gauge
    private let keys: Gauge
    private let leases: Gauge
    private let watchers: Gauge
    private let proposalsPending: Gauge
    let leaderChanges: Counter
    /// Proposals the engine refused (not the leader, a change already in progress, ...).
    let proposalsFailed: Counter
    /// Peer connections refused at their hello: another cluster, a stranger, or this node's own id.
    let peerHellosRefused: Counter
    /// Peer connections closed for saying no hello in time, or refused for too many such at once.
    let peerHellosLate: Counter
    let peerStrangersRefused: Counter
    /// Peer messages the engine refused as malformed or impossible (forged terms, out-of-range indexes, ...).
    let peerMessagesRefused: Counter
    /// Peer messages for a group this node does not host (never created by them), or whose replica was removed.
    let peerMessagesUnrouted: Counter
    /// Removal notices received, believed or not; and queries to confirm one, answered only for a real removal.
    let membershipNotices: Counter
    let membershipQueries: Counter
    let clientConnectionsRefused: Counter
    let unfinishedRequestsRefused: Counter
    let watchesRefused: Counter
    let redisIdleClosed: Counter
    let publicationsUnsent: Counter
    let redisSubscribersTooSlow: Counter
    /// Requests refused for want of a permission or of authentication, and failed authentications.
    let accessDenied: Counter
    let authenticationsFailed: Counter
    /// Passwords checked with bcrypt, an unknown user's against a decoy hash included.
    let passwordChecks: Counter
    private let groupsHosted: Gauge
    private let groupsLed: Gauge
    private let groupsQuiescent: Gauge
    /// Client requests, indexed by `RequestKind`'s raw value: an array, so that counting one hashes nothing.
    private let requests: [Counter]
    /// How long each fdatasync of the log took (etcd_disk_wal_fsync_duration_seconds).
    let walFsyncDuration: DurationHistogram
    /// The groups' writes the log's syncs made durable, one per group per sync: a log of each group's own would have
    /// needed as many syncs.
    let walGroupWritesSynced: Counter
    /// How long each client request took to answer, from its arrival at a group (watches, which stream, not).
    let requestDuration: DurationHistogram
    private let diskFreeBytes: Gauge
    private let diskSizeBytes: Gauge

    /// The `type` label of `quorum_server_requests_total`.
    enum RequestKind: Int, CaseIterable {
        case read, linearizableRead, write, status, membership, leases, watch

        var label: String {
            switch self {
            case .linearizableRead: "linearizable_read"
            default: "\(self)"
            }
        }
    }

    func countRequest(_ kind: RequestKind) { requests[kind.rawValue].increment() }

    init(node: NodeID) {
        let registry = registry
        let labels = [("node", "\(node.rawValue)")]
        /// `quorum_<subsystem>_<name>[_<unit>]`.
        func name(_ subsystem: String, _ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(
                namespace: "quorum", subsystem: subsystem, metricName: name, unitName: unit, helpText: help)
        }
        func gauge(_ subsystem: String, _ metric: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: name(subsystem, metric, help), labels: labels)
        }
        func counter(_ subsystem: String, _ metric: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: name(subsystem, metric, unit: "total", help), labels: labels)
        }
        hasLeader = gauge("server", "has_leader", "1 if this node knows a leader, else 0.")
        isLeader = gauge("server", "is_leader", "1 if this node is the leader, else 0.")
        term = gauge("server", "term", "The node's current Raft term.")
        commitIndex = gauge("server", "commit_index", "The highest log index known committed.")
        appliedIndex = gauge("server", "applied_index", "The highest log index applied to the store.")
        lastIndex = gauge("server", "last_index", "The last index in the node's log.")
        voters = gauge("cluster", "voters", "Voting members in the node's configuration.")
        learners = gauge("cluster", "learners", "Learners in the node's configuration.")
        revision = gauge("mvcc", "revision", "The store's current revision.")
        compactedRevision = gauge("mvcc", "compacted_revision", "The revision history is compacted to.")
        keys = gauge("mvcc", "keys", "Keys that exist now, not counting the cluster's own (under \\0quorum/).")
        leases = gauge("server", "leases", "Leases that exist now.")
        watchers = gauge("server", "watchers", "Watches served by this node now.")
        proposalsPending = gauge("server", "proposals_pending", "Client requests waiting on the log here.")
        leaderChanges = counter(
            "server", "leader_changes_seen", "Times this node saw the leader change, checked every tick.")
        proposalsFailed = counter(
            "server", "proposals_failed",
            "Requests the consensus engine refused (not leader, no quorum, a change in progress).")
        peerHellosLate = counter(
            "network", "peer_hellos_late", "Peer connections closed for saying no accepted hello within --peer-hello-timeout.")
        peerStrangersRefused = counter(
            "network", "peer_strangers_refused",
            "Peer connections refused because --max-peer-strangers connections were waiting for their hello already.")
        peerHellosRefused = counter(
            "network", "peer_hellos_refused",
            "Peer connections refused at their hello: another cluster, a node not known as a member.")
        peerMessagesRefused = counter(
            "network", "peer_messages_refused",
            "Peer messages refused as malformed or impossible, such as a term or index out of range.")
        peerMessagesUnrouted = counter(
            "network", "peer_messages_unrouted",
            "Peer messages for a group this node does not host; dropped, they never create it.")
        membershipNotices = counter(
            "network", "membership_notices",
            "Removal notices received; each is believed only once the group's leader confirms it.")
        membershipQueries = counter(
            "network", "membership_queries",
            "Queries from nodes asking this node, as a group's leader, to confirm a removal notice.")
        clientConnectionsRefused = counter(
            "network", "client_connections_refused",
            "Connections to the client or Redis port refused because it had --max-connections open already.")
        unfinishedRequestsRefused = counter(
            "network", "unfinished_requests_refused",
            "Client connections closed because their unfinished request would pass --max-unfinished-request-bytes.")
        watchesRefused = counter(
            "network", "watches_refused", "Watches refused because a group's replica here served --max-watches already.")
        redisIdleClosed = counter(
            "network", "redis_idle_connections_closed", "Redis connections closed after --redis-idle-timeout idle.")
        publicationsUnsent = counter(
            "network", "publications_unsent",
            "Redis publications not passed to a peer because its connection was down or backed up (at most once).")
        redisSubscribersTooSlow = counter(
            "network", "redis_subscribers_too_slow",
            "Redis subscribers disconnected for leaving 32 MiB of messages unread, as Redis's pubsub output limit does.")
        accessDenied = counter(
            "auth", "access_denied", "Requests refused because their user lacked a permission or was not authenticated.")
        authenticationsFailed = counter(
            "auth", "authentications_failed", "Authentications refused: a wrong password, unknown user or bad token.")
        passwordChecks = counter(
            "auth", "password_checks",
            "Passwords checked with bcrypt; an unknown user's is checked against a decoy, so timing hides which users exist.")
        groupsHosted = gauge("server", "groups", "Consensus groups this node hosts a replica of.")
        groupsLed = gauge("server", "groups_led", "Consensus groups this node leads.")
        groupsQuiescent = gauge("server", "groups_quiescent", "Hosted groups that are idle and send no heartbeats.")
        requests = RequestKind.allCases.map { kind in
            registry.makeCounter(
                descriptor: name("server", "requests", unit: "total", "Client requests handled, by type."),
                labels: labels + [("type", kind.label)])
        }
        // From 0.5 ms to about 8 s by doubling, as etcd's buckets.
        walFsyncDuration = registry.makeDurationHistogram(
            descriptor: name("disk", "wal_fsync_duration", unit: "seconds", "The latency of each sync of the log."),
            labels: labels, buckets: (0..<15).map { .microseconds(500 << $0) })
        walGroupWritesSynced = counter(
            "disk", "wal_group_writes_synced",
            "Groups' writes made durable by the log's syncs, one per group per sync (as many syncs as one log per group would need).")
        // From 0.1 ms to about 6.5 s by doubling.
        requestDuration = registry.makeDurationHistogram(
            descriptor: name(
                "server", "request_duration", unit: "seconds", "How long each client request took to answer."),
            labels: labels, buckets: (0..<17).map { .microseconds(100 << $0) })
        diskFreeBytes = gauge("disk", "data_dir_free_bytes", "Bytes free to the server on the data directory's disk.")
        diskSizeBytes = gauge("disk", "data_dir_size_bytes", "The size of the data directory's file system in bytes.")
    }

    /// Sets the disk gauges from the file system holding `directory`: one statvfs, cheap enough for every scrape.
    func sampleDisk(of directory: String) {
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return }
        diskFreeBytes.set(to: Double(stats.f_bavail) * Double(stats.f_frsize))
        diskSizeBytes.set(to: Double(stats.f_blocks) * Double(stats.f_frsize))
    }

    /// Sets the per-node group gauges: totals, not a series per group, so that 10,000 groups stay cheap to scrape.
    func sampleGroups(_ groups: [GroupStatus]) {
        groupsHosted.set(to: Double(groups.count))
        groupsLed.set(to: Double(groups.count { $0.role == "leader" }))
        groupsQuiescent.set(to: Double(groups.count(where: \.isQuiescent)))
    }

    /// Sets the gauges from the node's state now; on the node's loop.
    func sample(status: NodeStatus, store: KeyValueStore, watchers watcherCount: Int, pending: Int) {
        hasLeader.set(to: status.leader == nil ? 0 : 1)
        isLeader.set(to: status.leader == status.node ? 1 : 0)
        term.set(to: Double(status.term.rawValue))
        commitIndex.set(to: Double(status.commitIndex.rawValue))
        appliedIndex.set(to: Double(status.appliedIndex.rawValue))
        lastIndex.set(to: Double(status.lastIndex.rawValue))
        voters.set(to: Double(status.voters.count))
        learners.set(to: Double(status.learners.count))
        revision.set(to: Double(store.revision.rawValue))
        compactedRevision.set(to: Double(store.compactedRevision.rawValue))
        keys.set(to: Double(store.clientKeyCount))
        leases.set(to: Double(store.leaseCount))
        watchers.set(to: Double(watcherCount))
        proposalsPending.set(to: Double(pending))
    }

    /// The registry in Prometheus's text exposition format (version 0.0.4).
    func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

/// The file I/O of the node's storage, with every data sync timed into `quorum_disk_wal_fsync_duration_seconds`.
struct TimedFileIO: FileIO {
    let io: any FileIO
    let syncDuration: DurationHistogram

    func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
        try io.write(bytes, to: descriptor)
    }

    func synchronizeData(of descriptor: Int32) throws(SystemCallError) {
        let clock = ContinuousClock()
        let start = clock.now
        defer { syncDuration.record(start.duration(to: clock.now)) }
        try io.synchronizeData(of: descriptor)
    }

    func synchronize(_ descriptor: Int32) throws(SystemCallError) {
        try io.synchronize(descriptor)
    }
}
