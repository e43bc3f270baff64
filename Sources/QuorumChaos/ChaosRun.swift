import Foundation
import QuorumClient
import QuorumConsensus
import QuorumSimulation
import QuorumStore

/// What a chaos run does: how large a cluster, how long, which clients, which faults.
public struct ChaosOptions: Hashable, Codable, Sendable {
    public var seed: UInt64
    public var nodes = 3
    /// How long the workload runs; the faults stop two seconds before it ends.
    public var durationSeconds: Int
    public var quorumClients = 4
    public var redisClients = 2
    /// Keys in use at a time.
    public var keys = 16
    /// The keys in use change this often. A release build runs about 1,800 operations a second: with 4 keys, 5-second
    /// windows put 2,000–3,300 operations on a key and a quarter of the keys outran the checker's budget.
    public var keyWindowSeconds = 5
    public var tickMilliseconds = 20
    /// A snapshot every few seconds of load rather than every minute, so that snapshots, the log's compaction and
    /// catching up from a snapshot happen under the faults, and a full disk is met by more than the log's
    /// preallocated segment.
    public var snapshotEntries = 5_000
    /// The kinds of fault the generated schedule draws from.
    public var faultKinds: [FaultKind] = FaultKind.allCases
    /// Gets served from the node's own state but recorded as linearizable: unsafe on purpose, to show the checker
    /// catches stale reads.
    public var unsafeLocalReads = false

    public init(seed: UInt64, durationSeconds: Int) {
        self.seed = seed
        self.durationSeconds = durationSeconds
    }

    /// The quiet end of the run, in which the cluster heals before the final reads.
    static let quietTailMilliseconds = 2_000
}

/// What a run saw: enough to replay it (the options and the exact fault schedule) and to check it again.
public struct ChaosRecord: Codable, Sendable {
    public var options: ChaosOptions
    public var schedule: FaultSchedule
    public var history: [HistoryOperation]

    public init(options: ChaosOptions, schedule: FaultSchedule, history: [HistoryOperation]) {
        self.options = options
        self.schedule = schedule
        self.history = history
    }

    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }

    public static func load(from path: String) throws -> ChaosRecord {
        try JSONDecoder().decode(ChaosRecord.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// Runs a cluster of real `quorum server` processes behind a `ChaosProxy`, a workload of clients against it, and a
/// schedule of faults; then checks what the clients saw.
public enum ChaosRun {
    /// Runs `options` with `schedule` (generated from the seed when nil) and returns the report and the record.
    /// `executable` is the `quorum` binary; `progress` hears each fault as it is injected. The record holds the fault
    /// schedule, and the history of the keys that were not found linearizable.
    public static func run(
        _ options: ChaosOptions, schedule: FaultSchedule? = nil, executable: URL,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> (report: ChaosReport, record: ChaosRecord) {
        let durationMilliseconds = options.durationSeconds * 1_000
        let wantsFullDisks =
            schedule.map { $0.faults.contains { $0.kind == .diskFull } } ?? options.faultKinds.contains(.diskFull)
        let diskFullLeftOut = wantsFullDisks ? SmallDisk.unavailableReason : nil
        let schedule =
            schedule
            ?? FaultSchedule.generate(
                seed: options.seed, nodes: options.nodes,
                durationMilliseconds: durationMilliseconds - ChaosOptions.quietTailMilliseconds,
                kinds: diskFullLeftOut == nil ? options.faultKinds : options.faultKinds.filter { $0 != .diskFull })
        let started = ContinuousClock.now
        let cluster = try await ChaosCluster.start(
            size: options.nodes, executable: executable, tickMilliseconds: options.tickMilliseconds,
            snapshotEntries: options.snapshotEntries, seed: options.seed,
            smallDisks: wantsFullDisks && diskFullLeftOut == nil)
        let history = ChaosHistory()
        let workload = ChaosWorkload(
            endpoints: cluster.workloadEndpoints, redisEndpoints: cluster.members.map(\.redisEndpoint),
            keys: options.keys,
            keyWindowMilliseconds: options.keyWindowSeconds * 1_000, durationMilliseconds: durationMilliseconds,
            seed: options.seed, quorumClients: options.quorumClients, redisClients: options.redisClients,
            unsafeLocalReads: options.unsafeLocalReads, history: history)
        let injector = FaultInjector(cluster: cluster, history: history, progress: progress)

        await withTaskGroup(of: Void.self) { group in
            for index in 0..<options.quorumClients + options.redisClients {
                group.addTask {
                    if workload.isRedisClient(index) {
                        await workload.runRedisClient(index)
                    } else {
                        await workload.runQuorumClient(index)
                    }
                }
            }
            group.addTask { await injector.run(schedule) }
        }
        await injector.healEverything()
        let final = await finalReads(
            of: workload, cluster: cluster, client: options.quorumClients + options.redisClients)
        let counters = await cluster.proxy.counters
        await cluster.stopAll(keepingFiles: true)
        let notices = cluster.logLines(containing: [FaultInjector.diskFullNotice, FaultInjector.diskFreedNotice])
        let fullDisks = (
            noticed: notices[FaultInjector.diskFullNotice] ?? 0, recovered: notices[FaultInjector.diskFreedNotice] ?? 0
        )

        let operations = history.operations
        let check = ChaosCheck(operations)
        let report = ChaosReport(
            options: options, faultsInjected: injector.injected, faultsNotInjected: injector.notInjected,
            diskFullLeftOut: diskFullLeftOut, fullDisksNoticed: fullDisks.noticed,
            fullDisksRecovered: fullDisks.recovered,
            sparesPromoted: injector.promoted, sparesNotRemoved: injector.notRemoved,
            proxyCounters: counters, operations: operations.count,
            unknownOutcomes: operations.count { $0.completedAt == nil },
            redisOperations: operations.count { workload.isRedisClient($0.client) }, refused: history.refused,
            verdict: check.verdict, keysChecked: check.keysChecked, undecidedKeys: check.undecidedKeys.count,
            acknowledgedWrites: history.acknowledged.count, lostWrites: final.lost, finalReadFailure: final.failure,
            unexpectedExits: cluster.unexpectedExits, elapsed: started.duration(to: .now),
            keptFiles: cluster.directory.path)
        if report.passed { try? FileManager.default.removeItem(at: cluster.directory) }
        // A record keeps only the keys that did not pass: a long run's whole history is gigabytes of JSON.
        let kept = operations.filter { check.failedKeys.contains($0.key) }
        return (report, ChaosRecord(options: options, schedule: schedule, history: kept))
    }

    /// Once the faults have healed: a linearizable read of every key the workload used (into the history, so the
    /// final state is checked too), and of every write acknowledged on a key written once.
    private static func finalReads(
        of workload: ChaosWorkload, cluster: ChaosCluster, client: Int
    ) async -> (lost: [String], failure: String?) {
        let reader = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(20))
        let result = await finalReads(of: workload.history, through: reader, client: client)
        await reader.close()
        return result
    }

    private static func finalReads(
        of history: ChaosHistory, through reader: QuorumClient, client: Int
    ) async -> (lost: [String], failure: String?) {
        for key in Set(history.operations.map(\.key)).sorted() {
            let outcome = await history.perform(client: client, key: key, .get) {
                do {
                    let kv = try await reader.get(Array(key.utf8))
                    return .completed(.value(kv.flatMap { Int(String(decoding: $0.value, as: UTF8.self)) }))
                } catch { return .unknown }
            }
            if case .unknown = outcome { return ([], "the final read of \(key) got no answer") }
        }
        let acknowledged = history.acknowledged
        var stored: [String: Int] = [:]
        // In pages, so that however long the run, no answer comes near the client frame limit.
        var page = RangeRequest.prefix(Array(ChaosWorkload.ackPrefix.utf8), limit: 500)
        while true {
            let range: RangeResponse
            do {
                range = try await reader.range(page)
            } catch {
                return ([], "the final read of the acknowledged writes failed: \(error)")
            }
            for kv in range.kvs {
                stored[String(decoding: kv.key, as: UTF8.self)] = Int(String(decoding: kv.value, as: UTF8.self))
            }
            guard range.more, let last = range.kvs.last else { break }
            page.key = last.key + [0]
        }
        let lost = acknowledged.keys.sorted().filter { stored[$0] != acknowledged[$0] }
        return (lost, nil)
    }
}
