import ArgumentParser
import Foundation
import QuorumChaos
import QuorumSimulation

/// Runs a real cluster on 127.0.0.1 under injected faults and checks what its clients saw.
struct Chaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a real cluster on 127.0.0.1 under faults and check its history for linearizability.",
        discussion: """
            Starts --nodes `quorum server` processes whose peer links pass through a fault-injecting proxy, runs \
            clients through the Swift client and the Redis port for --duration seconds, and injects a schedule of \
            faults drawn from --seed: partitions (closed or silent), one-way partitions, delay, random connection \
            drops, bandwidth limits, SIGKILL and restart, SIGSTOP and SIGCONT, leadership transfers, membership \
            changes during other faults, and full disks (where it may mount a small file system per node: root). \
            Then it checks the history for linearizability and that every acknowledged write is still there.
            A failing run saves its options, fault schedule and the history of the keys that did not pass \
            (--save, default chaos-failure-SEED.json); --replay FILE checks that history again and runs the same \
            schedule again; --check FILE only checks it. docs/reliability.md explains.
            """
    )

    @Option(help: "Seconds of workload under faults.")
    var duration: Int = 60

    @Option(help: "Seed of the fault schedule and the workload.")
    var seed: UInt64 = 1

    @Option(help: "Cluster size: 3 or 5.")
    var nodes: Int = 3

    @Option(help: "Keys in use at a time: fewer keys, longer histories per key.")
    var keys: Int = 16

    @Option(help: "Seconds before the workload moves on to new keys.")
    var keyWindow: Int = 5

    @Option(help: "Where a failing run saves its record (default chaos-failure-SEED.json).")
    var save: String?

    @Option(help: "Check a saved record's history again, then run its options and fault schedule again.")
    var replay: String?

    @Option(help: "Check a saved record's history again, key by key, and run nothing.")
    var check: String?

    @Flag(help: "Deliberately unsafe: gets answered from the serving node's own state, recorded as linearizable.")
    var unsafeLocalReads = false

    @Option(help: "Only these kinds of fault, comma-separated (\(Self.kindNames)).")
    var faults: String?

    static let kindNames = FaultKind.allCases.map(\.rawValue).joined(separator: ", ")

    @Flag(help: "Print each fault as it is injected.")
    var verbose = false

    func validate() throws {
        if ![3, 5].contains(nodes) { throw ValidationError("--nodes must be 3 or 5") }
        if duration < 5 { throw ValidationError("--duration must be at least 5 seconds") }
        if !(1...1_000).contains(keys) { throw ValidationError("--keys must be between 1 and 1000") }
        if keyWindow < 1 { throw ValidationError("--key-window must be at least 1 second") }
        _ = try faultKinds()
    }

    private func faultKinds() throws -> [FaultKind] {
        guard let faults else { return FaultKind.allCases }
        return try faults.split(separator: ",").map {
            guard let kind = FaultKind(rawValue: String($0)) else {
                throw ValidationError("unknown fault kind '\($0)'")
            }
            return kind
        }
    }

    func run() async throws {
        if let check {
            let record = try ChaosRecord.load(from: check)
            let started = ContinuousClock.now
            let result = ChaosCheck(record.history)
            print(
                "saved history of \(record.history.count) operations on \(result.keysChecked) keys, checked in "
                    + "\(started.duration(to: .now).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))): "
                    + "\(result.undecidedKeys.count) keys undecided; \(result.verdict)")
            if result.verdict != .linearizable { throw ExitCode(1) }
            return
        }
        var options = ChaosOptions(seed: seed, durationSeconds: duration)
        options.nodes = nodes
        options.unsafeLocalReads = unsafeLocalReads
        options.keys = keys
        options.keyWindowSeconds = keyWindow
        options.faultKinds = try faultKinds()
        var schedule: FaultSchedule?
        if let replay {
            let record = try ChaosRecord.load(from: replay)
            print(
                "saved history of \(record.history.count) operations: \(LinearizabilityChecker().check(record.history))"
            )
            print("running its \(record.schedule.faults.count) faults again")
            options = record.options
            schedule = record.schedule
        }
        let verbose = verbose
        let (report, record) = try await ChaosRun.run(
            options, schedule: schedule, executable: try Self.executable(),
            progress: { line in if verbose { print(line) } })
        print(report)
        guard report.passed else {
            let path = save ?? "chaos-failure-\(options.seed).json"
            try record.save(to: path)
            print(
                "saved the options, fault schedule and history to \(path); replay with: quorum chaos --replay \(path)")
            throw ExitCode(1)
        }
    }

    /// This very binary, which the run starts as `quorum server`.
    private static func executable() throws -> URL {
        guard let url = Bundle.main.executableURL else { throw ValidationError("cannot tell where this binary is") }
        return url
    }
}
