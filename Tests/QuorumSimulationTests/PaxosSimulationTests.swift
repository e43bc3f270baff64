import Foundation
import QuorumConsensus
import Testing

@testable import QuorumSimulation

/// The Multi-Paxos seeds CI runs: `QUORUM_PAXOS_SIM_SEEDS=N` runs N instead, `QUORUM_SIM_SEED=S` replays just S.
private let paxosSeedBatches: [ClosedRange<UInt64>] = {
    let environment = ProcessInfo.processInfo.environment
    let range: ClosedRange<UInt64>
    if let seed = environment["QUORUM_SIM_SEED"].flatMap(UInt64.init) {
        range = seed...seed
    } else {
        range = 1...max(environment["QUORUM_PAXOS_SIM_SEEDS"].flatMap(UInt64.init) ?? 300, 1)
    }
    let size = max(1, (UInt64(range.count) + 7) / 8)
    return stride(from: range.lowerBound, through: range.upperBound, by: Int(size)).map {
        $0...min($0 + size - 1, range.upperBound)
    }
}()

func paxosOptions(seed: UInt64) -> SimulationOptions {
    var options = SimulationOptions(seed: seed)
    options.consensus = .paxos
    return options
}

@Suite("Simulation: Multi-Paxos")
struct PaxosSimulationTests {
    @Test("every seed stays safe, live after healing, and linearizable under Multi-Paxos", arguments: paxosSeedBatches)
    func seedsPass(batch: ClosedRange<UInt64>) async {
        let reports = await worlds(batch) { Simulation(options: paxosOptions(seed: $0)).run() }
        for (seed, report) in zip(batch, reports) {
            #expect(report.passed, "\(report)")
            #expect(report.stats.leaderElections >= 2, "seed \(seed) saw one leader only: \(report)")
            #expect(report.stats.operationsCompleted >= 20, "seed \(seed) completed too few operations: \(report)")
        }
    }

    @Test("a Multi-Paxos seed replays bit for bit")
    func replayIsDeterministic() {
        let first = Simulation(options: paxosOptions(seed: 7)).run()
        let second = Simulation(options: paxosOptions(seed: 7)).run()
        #expect(first.description == second.description)
        #expect(first.stats.events == second.stats.events)
        #expect(first.stats.messagesSent == second.stats.messagesSent)
    }

    @Test("a seed draws the same world for either engine, and a Raft world's description is as it was")
    func engineChoiceDrawsNothing() {
        for seed: UInt64 in 1...20 {
            let raft = SimulationOptions(seed: seed)
            let paxos = paxosOptions(seed: seed)
            #expect(raft.consensus == .raft)
            #expect(!raft.description.contains("consensus"))
            #expect(paxos.description == raft.description + " consensus=paxos")
        }
        #expect(Simulation(options: paxosOptions(seed: 3)).run().replayCommand.hasSuffix("--consensus paxos"))
    }
}

extension PaxosSimulationTests {
    /// The simulator has teeth for Multi-Paxos too: a deliberately broken engine is caught within a bounded number of
    /// seeds. `promiseBeforePersist` is caught as the promise leaves, by the check of what every message promises
    /// about its sender's disk (`DurablePromises`); `acceptBelowPromise` by the leader, which finds an acceptor
    /// claiming slots it never sent in that ballot. Some of its worlds (seeds 2 and 12) run for minutes without failing
    /// a check, so its search starts at 52, and the first seed from there that catches it is 77 (52 before a leader
    /// stopped resending its whole pipeline for every stale answer that reported a gap, and backed off after failed
    /// takeovers); the others start at 1. `configurationInForceAtOnce`
    /// is caught by the check of each leader's configurations against those the chosen values prescribe
    /// (`PaxosConfigurationChecker`), seed 1.
    @Test(
        "a broken Multi-Paxos engine is caught",
        arguments: InjectedPaxosBug.allCases)
    func brokenEngineIsCaught(bug: InjectedPaxosBug) async {
        let first: UInt64 = bug == .acceptBelowPromise ? 52 : 1
        let caughtBy = await firstFailingWorld(Array(first...400)) { seed in
            var options = paxosOptions(seed: seed)
            options.injectedPaxosBug = bug
            return Simulation(options: options).run()
        }
        #expect(caughtBy != nil, "bug \(bug) survived 400 seeds")
        if let caughtBy {
            print("bug \(bug.rawValue) caught by seed \(caughtBy.options.seed): \(caughtBy.failure!)")
            print("replay: \(caughtBy.replayCommand)")
        }
    }
}
