import Testing

@testable import QuorumConsensus

@Suite("Multi-Paxos snapshots")
struct PaxosSnapshotTests {
    @Test("the leader asks for snapshots, compacts, and catches a lagging acceptor up with its snapshot")
    func laggingAcceptorCatchesUpBySnapshot() {
        var cluster = PaxosCluster(voters: 3) {
            $0.snapshotIntervalEntries = 5
            $0.entriesRetainedAfterSnapshot = 0
        }
        cluster.elect(1)
        cluster.isolated = [3]
        for value in 1...12 { cluster.propose([UInt8(value)]) }
        cluster.heartbeat()
        #expect(cluster.snapshotRequests[1, default: 0] >= 2)
        #expect(cluster[1].firstIndex > 1)
        cluster.isolated = []
        for _ in 0..<3 { cluster.heartbeat() }
        #expect(cluster.restoredSnapshots[3]?.isEmpty == false)
        #expect(cluster.delivered.contains { $0.to == 3 && $0.isPaxosSnapshot })
        #expect(cluster[3].commitIndex == 12)
        let snapshotIndex = cluster.restoredSnapshots[3]!.last!.lastIncludedIndex
        let appliedAfter = cluster.appliedCommands(3)
        #expect(appliedAfter == (Int(snapshotIndex.rawValue) + 1...12).map { [UInt8($0)] })
        // And it keeps up afterwards.
        cluster.propose([13])
        cluster.heartbeat()
        #expect(cluster.appliedCommands(3).last == [13])
    }

    @Test("installing a leader's snapshot keeps the slots accepted after it")
    func snapshotKeepsLaterAcceptedSlots() {
        var node = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2))
        let accepted = (1...8 as ClosedRange<UInt64>).map { Entry(term: 1, index: LogIndex($0), kind: .command([UInt8($0)])) }
        let later = accepted[7]
        step(&node, paxos(1, 2, round: 1, .accept(PaxosAccept(entries: accepted, commitIndex: 0, readContext: 0))))
        drain(&node)
        let snapshot = Snapshot(
            lastIncludedIndex: 5, lastIncludedTerm: 1, configuration: Configuration(voters: [1, 2, 3]), data: [5])
        step(&node, paxos(1, 2, round: 1, .snapshot(snapshot)))
        let ready = drain(&node)
        #expect(ready.snapshot?.lastIncludedIndex == 5)
        #expect(ready.entries.map(\.index) == [6, 7, 8])
        #expect(node.commitIndex == 5)
        #expect(node.value(at: 8) == later)
        #expect(node.firstIndex == 6)
    }
}
