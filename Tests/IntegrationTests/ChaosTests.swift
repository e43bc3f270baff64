import Foundation
import QuorumSimulation
import Testing

@testable import QuorumChaos

/// The chaos suite's short mode: a real three-node cluster behind the fault-injecting proxy, every kind of fault at
/// least once. `QUORUM_CHAOS_SECONDS` runs it longer, `QUORUM_CHAOS_SEED` with another seed; `quorum chaos` is the
/// long mode.
@Suite(.serialized, .realProcesses)
struct ChaosTests {
    static let seed = ProcessInfo.processInfo.environment["QUORUM_CHAOS_SEED"].flatMap(UInt64.init) ?? 14
    static let seconds = ProcessInfo.processInfo.environment["QUORUM_CHAOS_SECONDS"].flatMap(Int.init) ?? 34

    @Test("under every kind of fault, the history is linearizable and no acknowledged write is lost")
    func historyStaysLinearizableUnderFaults() async throws {
        var options = ChaosOptions(seed: Self.seed, durationSeconds: Self.seconds)
        // A debug build applies a few hundred writes a second: snapshots this often still meet the full disk.
        options.snapshotEntries = 1_000
        let (report, record) = try await ChaosRun.run(options, executable: try ClusterProcesses.quorumExecutable())
        print(report)
        if !report.passed {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-failure-\(Self.seed).json")
                .path
            try record.save(to: path)
            Issue.record("\(report)\nreplay with: quorum chaos --replay \(path)")
        }
        #expect(report.verdict == .linearizable)
        #expect(report.lostWrites.isEmpty)
        #expect(report.unexpectedExits.isEmpty)
        #expect(report.finalReadFailure == nil)
        #expect(report.sparesNotRemoved.isEmpty)
        if report.faultsInjected[.diskFull] != nil {
            #expect(report.fullDisksNoticed >= 1, "no node noticed its full disk\n\(report)")
            #expect(report.fullDisksRecovered >= 1, "no node served again after its disk was freed\n\(report)")
        }
        // A full disk needs a file system of each node's own, which only root can mount: elsewhere the run says why
        // it left that kind out.
        for kind in FaultKind.allCases where kind != .diskFull || report.diskFullLeftOut == nil {
            #expect(report.faultsInjected[kind, default: 0] >= 1, "no \(kind.rawValue) was injected\n\(report)")
        }
        // The proxy's own counts show the link faults bit, not only that they were set.
        #expect(report.proxyCounters.randomlyDropped > 0)
        #expect(report.proxyCounters.clientConnectionsDropped > 0, "no client connection broke\n\(report)")
        #expect(report.proxyCounters.cut > 0)
        #expect(report.proxyCounters.slowed > 0)
        #expect(report.acknowledgedWrites > 0)
        #expect(report.operations - report.unknownOutcomes > 100)
    }

    @Test("reads served from a node's own state but recorded as linearizable are caught under partitions")
    func localReadsUnderPartitionsAreFlagged() async throws {
        var options = ChaosOptions(seed: Self.seed, durationSeconds: 8)
        options.unsafeLocalReads = true
        options.redisClients = 0
        options.faultKinds = [.partition, .silentPartition]
        let (report, _) = try await ChaosRun.run(options, executable: try ClusterProcesses.quorumExecutable())
        print(report)
        #expect(report.isViolation, "\(report)")
        #expect(!report.passed)
        try? FileManager.default.removeItem(atPath: report.keptFiles)
    }
}

@Test("a Redis write counts as not done only when the error says it was never proposed")
func redisRefusalsThatProveNothingWasWritten() {
    let follower = "READONLY You can't write against a read only replica. The leader is node 2 at 127.0.0.1:7212."
    #expect(ChaosWorkload.isRefusedBeforeProposing(follower))
    #expect(ChaosWorkload.leaderAddress(in: follower) == "127.0.0.1:7212")
    let beforeHello =
        "READONLY You can't write against a read only replica. The leader is node 2 (clients: 127.0.0.1:7202)."
    #expect(ChaosWorkload.isRefusedBeforeProposing(beforeHello))
    #expect(ChaosWorkload.leaderAddress(in: beforeHello) == nil)
    #expect(ChaosWorkload.isRefusedBeforeProposing("TRYAGAIN no leader is known right now (an election is on); retry"))
    #expect(
        !ChaosWorkload.isRefusedBeforeProposing(
            "TRYAGAIN no answer within 10 s; the write may or may not have taken effect"))
    #expect(
        !ChaosWorkload.isRefusedBeforeProposing(
            "TRYAGAIN leadership changed and the outcome is unknown; retry with the same session to apply it once"))
}

@Test("every membership change in a schedule has another fault inside it, on a member")
func membershipChangesHaveAFaultInside() {
    for seed in 0..<50 as Range<UInt64> {
        let schedule = FaultSchedule.generate(seed: seed, nodes: 3, durationMilliseconds: 60_000)
        let changes = schedule.faults.filter { $0.kind == .membershipChange }
        #expect(!changes.isEmpty, "seed \(seed)")
        for change in changes {
            let end = change.startMilliseconds + change.durationMilliseconds
            let inside = schedule.faults.filter {
                ![.membershipChange, .leadershipTransfer].contains($0.kind)
                    && $0.startMilliseconds > change.startMilliseconds
                    && $0.startMilliseconds + $0.durationMilliseconds < end && (1...3).contains($0.node)
            }
            #expect(!inside.isEmpty, "seed \(seed): nothing inside \(change)")
        }
    }
}
