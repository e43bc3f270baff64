import ArgumentParser
import QuorumConsensus
import QuorumSimulation

/// Runs deterministic simulations of a Raft cluster under faults, so anyone can watch one seed or hunt
/// through thousands.
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

    @Option(help: "Consensus groups per node, 1 to 64; above one, with quiescence, a shared disk and shared links.")
    var groups: Int = 1

    @Option(help: "Run a deliberately broken engine: \(InjectedBug.allCases.map(\.rawValue).joined(separator: ", ")).")
    var injectBug: String?

    @Flag(help: "Print the events of each run (elections, faults, membership changes).")
    var verbose = false

    func validate() throws {
        if seeds < 1 { throw ValidationError("--seeds must be at least 1") }
        if !(1...64).contains(groups) { throw ValidationError("--groups must be between 1 and 64") }
        if let injectBug, InjectedBug(rawValue: injectBug) == nil {
            throw ValidationError("unknown bug '\(injectBug)'; choose one of \(InjectedBug.allCases.map(\.rawValue))")
        }
    }

    func run() throws {
        var failures: [SimulationReport] = []
        for offset in 0..<seeds {
            var options = SimulationOptions(seed: seed + UInt64(offset), groups: groups)
            options.injectedBug = injectBug.flatMap(InjectedBug.init(rawValue:))
            let log: ((String) -> Void)? = verbose ? { print($0) } : nil
            let report =
                groups > 1
                ? MultiGroupSimulation(options: options, log: log).run() : Simulation(options: options, log: log).run()
            if seeds == 1 || verbose || !report.passed {
                print(report)
                print()
            } else {
                var line = "seed \(options.seed): passed (\(report.stats.leaderElections) leaders, "
                line += "\(report.stats.entriesApplied) entries, \(report.stats.operationsCompleted) operations"
                if groups > 1 { line += " in \(groups) groups, quiesced \(report.groups.map(\.quiescences))×" }
                print(line + ")")
            }
            if !report.passed { failures.append(report) }
        }
        if seeds > 1 { print("\(seeds - failures.count) passed, \(failures.count) failed") }
        if !failures.isEmpty {
            for report in failures { print("replay: \(report.replayCommand)") }
            throw ExitCode.failure
        }
    }
}
