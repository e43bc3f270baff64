import Testing

@testable import QuorumConsensus

@Suite("Snapshots and compaction")
struct SnapshotTests {
    @Test("§7 the driver is asked for a snapshot once snapshotIntervalEntries entries were applied, and only once")
    func snapshotRequestedAfterInterval() throws {
        var options = testOptions(voters: [1])
        options.snapshotIntervalEntries = 5
        var node = makeNode(1, options: options)
        node.campaign()
        #expect(!drain(&node).snapshotRequested)  // the no-op is persisted, not yet applied
        var requests: [LogIndex] = []
        for byte in 1...12 as ClosedRange<UInt8> {
            _ = try node.propose([byte])
            drain(&node)
            let ready = drain(&node)
            if ready.snapshotRequested { requests.append(node.appliedIndex) }
        }
        #expect(requests == [5], "asked once at 5 applied entries, then not again until it compacts")
        #expect(node.appliedIndex == 13)
        _ = node.compact(through: 5, snapshotData: [5])
        #expect(node.hasReady)
        #expect(drain(&node).snapshotRequested, "13 applied, 8 past the snapshot at 5: due again at once")
    }

    @Test("§7 compaction drops the log through the snapshot, keeping entriesRetainedAfterSnapshot entries")
    func compactionKeepsRetainedEntries() throws {
        var options = testOptions(voters: [1])
        options.entriesRetainedAfterSnapshot = 3
        var node = makeNode(1, options: options)
        node.campaign()
        drain(&node)
        for byte in 1...9 as ClosedRange<UInt8> { _ = try node.propose([byte]) }
        drain(&node)
        drain(&node)
        #expect(node.appliedIndex == 10)
        let snapshot = node.compact(through: 8, snapshotData: [1, 2, 3])
        #expect(
            snapshot
                == Snapshot(
                    lastIncludedIndex: 8, lastIncludedTerm: 1, configuration: Configuration(voters: [1]),
                    data: [1, 2, 3]))
        #expect(node.firstIndex == 6)
        #expect(node.term(at: 4) == nil)
        #expect(node.term(at: 5) == 1, "the new base keeps its term")
        #expect(node.term(at: 6) == 1)
        #expect(node.lastIndex == 10)
        node.checkInvariants()
    }

    @Test("§7 compaction with no retained entries makes the snapshot the log's base")
    func compactionWithoutRetention() throws {
        var options = testOptions(voters: [1])
        options.entriesRetainedAfterSnapshot = 0
        var node = makeNode(1, options: options)
        node.campaign()
        drain(&node)
        for byte in 1...4 as ClosedRange<UInt8> { _ = try node.propose([byte]) }
        drain(&node)
        drain(&node)
        _ = node.compact(through: 5, snapshotData: [])
        #expect(node.firstIndex == 6)
        #expect(node.term(at: 5) == 1)
        _ = try node.propose([9])
        drain(&node)
        #expect(drain(&node).committedEntries.map(\.index) == [6], "the log keeps working after compaction")
    }

    /// A three-node cluster where n3 missed 20 entries that the leader then compacted away.
    static func laggingFollowerCluster() -> TestCluster {
        var cluster = TestCluster(voters: 3) { $0.entriesRetainedAfterSnapshot = 0 }
        cluster.elect(1)
        cluster.isolated = [3]
        for byte in 1...20 as ClosedRange<UInt8> { cluster.propose([byte]) }
        _ = cluster[1].compact(through: cluster[1].appliedIndex, snapshotData: [0xAB])
        cluster.isolated = []
        return cluster
    }

    @Test("§7 a follower behind the compacted log receives InstallSnapshot and catches up")
    func laggingFollowerReceivesSnapshot() {
        var cluster = Self.laggingFollowerCluster()
        #expect(cluster[1].firstIndex == 22)
        cluster.tick(1, times: 12)
        let snapshots = cluster.deliveredMessages(from: 1, to: 3) { $0.isSnapshot }
        #expect(snapshots.count == 1)
        #expect(cluster.restoredSnapshots[3]?.map(\.lastIncludedIndex) == [21])
        #expect(cluster.restoredSnapshots[3]?.first?.data == [0xAB])
        #expect(cluster[3].firstIndex == 22)
        #expect(cluster[3].commitIndex == 21)
        #expect(cluster[1].replicationStatus[3]?.state == "replicate")
        // Replication continues past the snapshot with ordinary appends.
        cluster.propose([99])
        cluster.heartbeat()
        #expect(cluster[3].lastIndex == 22)
        #expect(cluster[3].commitIndex == 22)
        #expect(cluster.applied[3]?.map(\.index) == [1, 22], "entries inside the snapshot are never applied")
    }

    @Test("§7 a follower restores a snapshot: the Ready carries it, and the log, commit and configuration follow it")
    func followerRestoresSnapshot() {
        var follower = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(
                hardState: HardState(term: 2, commitIndex: 1), entries: entries(terms: [1, 1, 1])))
        let snapshot = Snapshot(
            lastIncludedIndex: 10, lastIncludedTerm: 2, configuration: Configuration(voters: [1, 2, 3, 4]), data: [7])
        step(&follower, Message(from: 1, to: 2, term: 3, payload: .installSnapshot(snapshot)))
        #expect(follower.term == 3)
        #expect(follower.leaderHint == 1)
        #expect(follower.commitIndex == 10)
        #expect(follower.firstIndex == 11)
        #expect(follower.lastIndex == 10)
        #expect(follower.configuration == snapshot.configuration)
        let ready = follower.ready()
        #expect(ready.snapshot == snapshot)
        #expect(ready.entries.isEmpty)
        #expect(ready.committedEntries.isEmpty)
        #expect(ready.mustSync)
        #expect(ready.messages.isEmpty, "the acknowledgement promises the snapshot is on disk")
        #expect(
            ready.messagesAfterPersist == [
                Message(from: 2, to: 1, term: 3, payload: .appendEntriesResponse(.accepted(matchIndex: 10)))
            ])
        follower.acknowledge(readyNumber: ready.number)
        follower.checkInvariants()
        // The log continues from the snapshot.
        let append = AppendEntries(
            previousIndex: 10, previousTerm: 2, entries: entries(terms: [3], from: 11), leaderCommit: 11)
        step(&follower, Message(from: 1, to: 2, term: 3, payload: .appendEntries(append)))
        drain(&follower)
        #expect(drain(&follower).committedEntries.map(\.index) == [11])
    }

    @Test("§7 a snapshot no newer than the commit index is acknowledged and ignored")
    func staleSnapshotIgnored() {
        var follower = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(
                hardState: HardState(term: 2, commitIndex: 3), entries: entries(terms: [1, 1, 1])))
        let snapshot = Snapshot(
            lastIncludedIndex: 2, lastIncludedTerm: 1, configuration: Configuration(voters: [1, 2, 3]), data: [])
        step(&follower, Message(from: 1, to: 2, term: 2, payload: .installSnapshot(snapshot)))
        #expect(follower.lastIndex == 3)
        let ready = drain(&follower)
        #expect(ready.snapshot == nil)
        #expect(ready.messagesAfterPersist.last?.payload == .appendEntriesResponse(.accepted(matchIndex: 3)))
    }

    @Test("§7 a snapshot whose last entry the follower already holds keeps the entries after it")
    func snapshotOfKnownPrefixKeepsSuffix() {
        var follower = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(hardState: HardState(term: 2), entries: entries(terms: [1, 1, 2, 2])))
        let snapshot = Snapshot(
            lastIncludedIndex: 3, lastIncludedTerm: 2, configuration: Configuration(voters: [1, 2, 3]), data: [])
        step(&follower, Message(from: 1, to: 2, term: 2, payload: .installSnapshot(snapshot)))
        #expect(follower.lastIndex == 4)
        #expect(follower.commitIndex == 3)
        let ready = drain(&follower)
        #expect(ready.snapshot == nil)
        #expect(ready.committedEntries.map(\.index) == [1, 2, 3])
    }

    @Test("§7 a node recovered from a snapshot starts from its base and configuration")
    func recoveryFromSnapshot() {
        let snapshot = Snapshot(
            lastIncludedIndex: 50, lastIncludedTerm: 4, configuration: Configuration(voters: [1, 2]), data: [])
        let node = makeNode(
            1, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(
                hardState: HardState(term: 5, commitIndex: 51), snapshot: snapshot,
                entries: [Entry(term: 5, index: 51, kind: .noop), Entry(term: 5, index: 52, kind: .noop)]))
        #expect(node.firstIndex == 51)
        #expect(node.lastIndex == 52)
        #expect(node.term(at: 50) == 4)
        #expect(node.commitIndex == 51)
        #expect(node.appliedIndex == 50)
        #expect(node.configuration == Configuration(voters: [1, 2]))
        node.checkInvariants()
    }
}
