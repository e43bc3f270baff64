import Foundation
import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumStore
import Synchronization

/// Gathers the cluster dashboard's figures: every `interval`, it reads this node's own metrics on the node's loop
/// and fetches every other member's `/metrics` over HTTP, on an event loop of its own (never the node's), each
/// fetch bounded in time and size, and records them in a bounded `DashboardHistory`. The page is rendered from
/// what it holds, so a member that does not answer slows no page down: it shows as unreachable.
///
/// It samples only while the page is viewed: a scrape counts group 1's keys on the node's loop, which a cluster
/// nobody watches should not pay for every 2 s. The first view after a pause waits for one sample (at most the
/// fetch timeout) and starts a new history.
final class DashboardSampler: Sendable {
    static let interval = Duration.seconds(2)
    /// Sampling stops this long after the page was last asked for.
    static let watchedFor: TimeInterval = 600
    /// Five minutes of readings at `interval`.
    static let readingsKept = 150
    static let fetchTimeout = TimeAmount.seconds(1)
    static let fetchTimeoutText = "1 s"
    /// A node's `/metrics` is a few kilobytes (its group figures are totals, whatever the number of groups).
    static let responseBytesMax = 1 << 20

    private struct State {
        var members: [Dashboard.Member] = []
        var lockQueues: [DashboardLockQueue] = []
        /// Whether some kind had more keys than `DashboardLockQueue.keysPerKindMax`.
        var lockQueuesCut = false
        var history = DashboardHistory(capacity: DashboardSampler.readingsKept)
        var lastViewed: Date?

        func isWatched(at now: Date) -> Bool {
            lastViewed.map { now.timeIntervalSince($0) <= DashboardSampler.watchedFor } ?? false
        }
    }

    private let host: NodeHost
    private let state = Mutex(State())
    /// The sampling task and the event loop its fetches run on, while it runs.
    private let running = Mutex<(task: Task<Void, Never>, fetchLoops: MultiThreadedEventLoopGroup)?>(nil)

    init(host: NodeHost) {
        self.host = host
    }

    func start() {
        let fetchLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let task = Task { [self] in
            while !Task.isCancelled {
                if state.withLock({ $0.isWatched(at: Date()) }) { await sample(fetchingOn: fetchLoops) }
                try? await Task.sleep(for: Self.interval)
            }
        }
        running.withLock { $0 = (task, fetchLoops) }
    }

    /// Stops sampling and closes the fetches' event loop.
    func stop() async {
        guard
            let (task, fetchLoops) = running.withLock({ running in
                defer { running = nil }
                return running
            })
        else { return }
        task.cancel()
        await task.value
        try? await fetchLoops.shutdownGracefully()
    }

    /// The page as of the latest sample; the first view after a pause samples first.
    func page(now: Date) async -> String {
        let resumes = state.withLock { state in
            defer { state.lastViewed = now }
            guard !state.isWatched(at: now) else { return false }
            state = State()
            return true
        }
        if resumes, let fetchLoops = running.withLock({ $0?.fetchLoops }) { await sample(fetchingOn: fetchLoops) }
        let state = state.withLock { $0 }
        return Dashboard.page(
            serving: host.configuration.node, members: state.members, history: state.history,
            locks: (state.lockQueues, cut: state.lockQueuesCut), interval: Double(Self.interval.components.seconds),
            now: resumes ? Date() : now)
    }

    private func sample(fetchingOn fetchLoops: MultiThreadedEventLoopGroup) async {
        let host = host
        guard
            let (members, ownMetrics, lockKeys) = try? await host.loop.submit({
                let lockKeys = DashboardLockQueue.kinds.map { kind in
                    let request = RangeRequest.prefix(
                        DashboardLockQueue.prefix(of: kind), limit: DashboardLockQueue.keysPerKindMax)
                    return (kind, host.clusterGroup.localRange(request))
                }
                return (host.clusterGroup.dashboardMembers(), host.metricsExposition(), lockKeys)
            }).get()
        else { return }
        let lockQueues = lockKeys.flatMap { kind, found in
            DashboardLockQueue.queues(kind: kind, keys: found?.kvs ?? [])
        }
        let now = Date()
        let node = host.configuration.node
        let fetched = await withTaskGroup(of: (NodeID, Result<String, DashboardFetch.Failure>).self) { group in
            for member in members where member.id != node {
                group.addTask {
                    guard let address = member.httpAddress else {
                        let unknown = "no HTTP port known: it serves none, or has not connected since this node started"
                        return (member.id, .failure(DashboardFetch.Failure(unknown)))
                    }
                    do {
                        let text = try await DashboardFetch.get(
                            "/metrics", from: address, on: fetchLoops, timeout: Self.fetchTimeout,
                            bytesMax: Self.responseBytesMax)
                        return (member.id, .success(text))
                    } catch {
                        return (member.id, .failure(DashboardFetch.Failure("\(error)")))
                    }
                }
            }
            return await group.reduce(into: [(node, .success(String(decoding: ownMetrics, as: UTF8.self)))]) {
                $0.append($1)
            }
        }
        let readings = fetched.map { member, result in
            (member, result.map { DashboardHistory.Reading(at: now, metrics: MetricSamples(exposition: $0)) })
        }
        state.withLock { state in
            state.members = members
            state.lockQueues = lockQueues
            state.lockQueuesCut = lockKeys.contains { $0.1?.more == true }
            state.history.keepOnly(Set(members.map(\.id)))
            for (member, result) in readings {
                switch result {
                case .success(let reading):
                    state.history.record(reading, of: member)
                case .failure(let failure):
                    state.history.recordFailure(of: member, at: now, reason: failure.description)
                }
            }
        }
    }
}
