import ArgumentParser
import Foundation
import QuorumConsensus
import QuorumSimulation

/// Runs deterministic simulations of a Raft (or Multi-Paxos) cluster under faults, so anyone can watch one seed or
/// hunt through thousands.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run seeded, deterministic simulations of a Raft cluster under faults.",
        discussion: """
            Each seed draws its own world (cluster size, fault rates, workload), runs it with crashes, partitions,
            message loss and membership changes, heals it, and checks safety after every event, liveness after
            healing, and linearizability of the client history. A single seed replays bit for bit.
            """
    )

    @Option(help: "The first seed to run.")
    var seed: UInt64 = 1

    @Option(help: "How many consecutive seeds to run.")
    var seeds: Int = 1

    @Option(
        help: """
            Consensus groups per node, 1 to 64; above one, with quiescence, a shared disk and shared links. \
            'drawn': each seed draws 2 to 8, as the tests' multi-group and sharded worlds do.
            """)
    var groups: String = "1"

    @Flag(
        help: """
            Shard the keys over the groups and move them while the faults run (slot moves, splits, merges), checking \
            that no group serves a key it does not own and that no acknowledged write is lost. Needs --groups 2 or more \
            (or 'drawn': each seed draws 2 to 8).
            """)
    var sharded = false

    @Flag(
        help: """
            Keep the registers in the real key-value store, with store proposals in the log, checking each of its \
            answers against a plain register's. Single-group worlds only.
            """)
    var store = false

    @Option(help: "The consensus engine: raft or paxos (Multi-Paxos). The seed draws the same world either way.")
    var consensus: String = "raft"

    @Option(
        help: ArgumentHelp(
            "Run a deliberately broken engine: \(InjectedBug.allCases.map(\.rawValue).joined(separator: ", ")) for Raft; "
                + "\(InjectedPaxosBug.allCases.map(\.rawValue).joined(separator: ", ")) with --consensus paxos."))
    var injectBug: String?

    @Flag(help: "Print the events of each run (elections, faults, membership changes).")
    var verbose = false

    func validate() throws {
        if seeds < 1 { throw ValidationError("--seeds must be at least 1") }
        if groups != "drawn", !(Int(groups).map { (1...64).contains($0) } ?? false) {
            throw ValidationError("--groups must be between 1 and 64, or 'drawn'")
        }
        if sharded && groups == "1" { throw ValidationError("--sharded needs --groups 2 or more, or 'drawn'") }
        if store && groups != "1" { throw ValidationError("--store runs single-group worlds: leave out --groups") }
        guard let kind = ConsensusKind(rawValue: consensus) else {
            throw ValidationError("unknown engine '\(consensus)'; choose raft or paxos")
        }
        if let injectBug {
            let known =
                kind == .raft ? InjectedBug(rawValue: injectBug) != nil : InjectedPaxosBug(rawValue: injectBug) != nil
            let choices =
                kind == .raft ? InjectedBug.allCases.map(\.rawValue) : InjectedPaxosBug.allCases.map(\.rawValue)
            if !known { throw ValidationError("unknown bug '\(injectBug)' for \(consensus); choose one of \(choices)") }
            let shardingBugs: [InjectedBug] = [.sourceServesReleasedKeys, .copyBeforeRelease]
            if let bug = InjectedBug(rawValue: injectBug), shardingBugs.contains(bug), !sharded {
                throw ValidationError("--inject-bug \(injectBug) breaks moves of keys: it needs --sharded")
            }
            let storeBugs: [InjectedBug] = [.retriesWithoutSession, .readsHideExpiredLeases]
            if let bug = InjectedBug(rawValue: injectBug), storeBugs.contains(bug), !store {
                throw ValidationError(
                    "--inject-bug \(injectBug) breaks the store's sessions or leases: it needs --store")
            }
        }
    }

    func run() throws {
        var failures: [SimulationReport] = []
        var totals = SweepTotals()
        for offset in 0..<seeds {
            let seed = seed + UInt64(offset)
            let groupCount = Int(groups) ?? SimulationOptions.drawnGroupCount(seed: seed)
            var options = SimulationOptions(seed: seed, groups: groupCount)
            options.sharded = sharded
            options.runsStore = store
            options.consensus = ConsensusKind(rawValue: consensus) ?? .raft
            if options.consensus == .raft {
                options.injectedBug = injectBug.flatMap(InjectedBug.init(rawValue:))
            } else {
                options.injectedPaxosBug = injectBug.flatMap(InjectedPaxosBug.init(rawValue:))
            }
            let log: ((String) -> Void)? = verbose ? { print($0) } : nil
            let report =
                groupCount > 1
                ? MultiGroupSimulation(options: options, log: log).run() : Simulation(options: options, log: log).run()
            if seeds == 1 || verbose || !report.passed {
                print(report)
                print()
            } else {
                var line = "seed \(options.seed): passed (\(report.stats.leaderElections) leaders, "
                line += "\(report.stats.entriesApplied) entries, \(report.stats.operationsCompleted) operations"
                if groupCount > 1 { line += " in \(groupCount) groups, quiesced \(report.groups.map(\.quiescences))×" }
                if sharded { line += ", \(report.stats.movesFinished) moves" }
                print(line + ")")
            }
            if !report.passed { failures.append(report) }
            totals.add(report.stats)
        }
        if seeds > 1 {
            print("\(seeds - failures.count) passed, \(failures.count) failed")
            print(totals)
        }
        if !failures.isEmpty {
            for report in failures { print("replay: \(report.replayCommand)") }
            throw ExitCode.failure
        }
    }
}

/// What a sweep's worlds did together, to compare the engines over the same seeds (docs/consensus.md).
struct SweepTotals: CustomStringConvertible {
    private var worlds = 0
    private var messages = 0
    private var entries = 0
    private var operations = 0
    private var elections = 0
    private var recoveryMs: [UInt64] = []

    mutating func add(_ stats: SimulationStats) {
        worlds += 1
        messages += stats.messagesSent
        entries += stats.entriesApplied
        operations += stats.operationsCompleted
        elections += stats.leaderElections
        if let livenessMs = stats.livenessMs { recoveryMs.append(livenessMs) }
    }

    var description: String {
        let sorted = recoveryMs.sorted()
        func percentile(_ fraction: Double) -> String {
            sorted.isEmpty ? "-" : "\(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) ms"
        }
        let perEntry = entries == 0 ? "-" : String(format: "%.1f", Double(messages) / Double(entries))
        return "totals: \(messages) messages for \(entries) applied entries (\(perEntry) per entry), "
            + "\(operations) client operations, \(elections) leaders elected (\(elections / max(worlds, 1)) per world); "
            + "leader and commit on every voter after healing: p50 \(percentile(0.5)), p90 \(percentile(0.9)), "
            + "max \(percentile(1))"
    }
}
