import QuorumConsensus
import Testing

@testable import QuorumNode

/// Storage that holds batches until the test says they are durable.
private final class HeldStorage: NodeStorage {
    var batches: [PersistBatch] = []
    var snapshots: [Snapshot] = []
    func persist(_ batch: PersistBatch) { batches.append(batch) }
    func saveSnapshot(_ snapshot: Snapshot) { snapshots.append(snapshot) }
}

private final class RecordingTransport: MessageTransport {
    var sent: [Message] = []
    func send(_ messages: [Message]) { sent += messages }
}

/// Sums the first byte of every command: enough to see what was applied, and in which order.
private struct Summer: ReplicatedStateMachine {
    var total = 0
    var applied: [LogIndex] = []
    mutating func apply(_ entry: Entry) -> Int? {
        guard case .command(let bytes) = entry.kind else { return nil }
        total += Int(bytes[0])
        applied.append(entry.index)
        return total
    }
    func snapshotImage() -> Int { total }
    static func serialize(_ total: Int) -> [UInt8] { [UInt8(total)] }
    mutating func restore(from snapshot: [UInt8]) { total = Int(snapshot[0]) }
}

private typealias Driver = NodeDriver<RaftNode, HeldStorage, RecordingTransport, Summer>

private func soloDriver(snapshotInterval: Int = 10_000, processing: Driver.Processing = .afterEachInput) throws
    -> Driver
{
    var options = RaftOptions()
    options.initialConfiguration = Configuration(voters: [1])
    options.snapshotIntervalEntries = snapshotInterval
    options.entriesRetainedAfterSnapshot = 0
    return Driver(
        engine: try RaftNode(id: 1, options: options), stateMachine: Summer(), storage: HeldStorage(),
        transport: RecordingTransport(), recoveredSnapshot: nil, processing: processing)
}

/// Completes every held batch, oldest first, as an fsync thread would.
private func persistAll(_ driver: inout Driver) {
    while !driver.storage.batches.isEmpty {
        let batch = driver.storage.batches.removeFirst()
        driver.persisted(readyNumber: batch.readyNumber)
    }
}

@Suite("Node driver")
struct NodeDriverTests {
    @Test("a proposal is answered only after its entry is durable and applied")
    func proposalWaitsForPersistence() throws {
        var driver = try soloDriver()
        driver.campaign()
        persistAll(&driver)
        #expect(driver.engine.role == .leader)
        try driver.propose([5], token: 42)
        #expect(driver.takeCompletions().isEmpty, "nothing is durable yet")
        #expect(driver.isPersisting)
        persistAll(&driver)
        let completions = driver.takeCompletions()
        guard case .committed(let token, _, let output)? = completions.first else {
            Issue.record("expected a commit, got \(completions)")
            return
        }
        #expect(token == 42)
        #expect(output == 5)
        #expect(driver.stateMachine.total == 5)
    }

    @Test("the proposals of one turn share one write, and the next turn's write does not wait for it")
    func turnBatchingAndPipelining() throws {
        var driver = try soloDriver(processing: .whenAsked)
        driver.campaign()
        while driver.needsProcessing {
            driver.process()
            persistAll(&driver)
        }
        #expect(driver.engine.role == .leader)
        for token in 1...10 as ClosedRange<UInt64> { try driver.propose([1], token: token) }
        #expect(driver.storage.batches.isEmpty, "nothing is written before the turn ends")
        driver.process()
        #expect(driver.storage.batches.map(\.entries.count) == [10], "the turn's proposals travel in one write")
        try driver.propose([1], token: 11)
        driver.process()
        #expect(driver.storage.batches.map(\.entries.count) == [10, 1], "written while the first is in flight")
        driver.persisted(readyNumber: driver.storage.batches[1].readyNumber)
        #expect(driver.needsProcessing)
        driver.process()
        #expect(driver.takeCompletions().count == 11, "storage completes in order: the later write covers both")
        #expect(driver.stateMachine.total == 11)
    }

    @Test("a read becomes readable once the state machine has applied its read index")
    func readWaitsForApply() throws {
        var driver = try soloDriver()
        driver.campaign()
        persistAll(&driver)
        try driver.propose([3], token: 1)
        try driver.read(token: 2)
        persistAll(&driver)
        let completions = driver.takeCompletions()
        #expect(completions.contains { if case .readable(2) = $0 { true } else { false } })
        #expect(driver.stateMachine.total == 3)
    }

    @Test("a follower refuses proposals with the leader's name")
    func followerRefusesProposals() throws {
        var options = RaftOptions()
        options.initialConfiguration = Configuration(voters: [1, 2, 3])
        var driver = Driver(
            engine: try RaftNode(id: 2, options: options), stateMachine: Summer(), storage: HeldStorage(),
            transport: RecordingTransport(), recoveredSnapshot: nil)
        #expect(throws: ProposalError.notLeader(leaderHint: nil)) { try driver.propose([1], token: 1) }
    }

    @Test("a vote is sent only after the term and vote are durable")
    func voteWaitsForPersistence() throws {
        var options = RaftOptions()
        options.initialConfiguration = Configuration(voters: [1, 2, 3])
        var driver = Driver(
            engine: try RaftNode(id: 2, options: options), stateMachine: Summer(), storage: HeldStorage(),
            transport: RecordingTransport(), recoveredSnapshot: nil)
        let request = VoteRequest(lastLogIndex: 0, lastLogTerm: 0, isPreVote: false, isLeadershipTransfer: false)
        driver.receive(Message(from: 1, to: 2, term: 1, payload: .requestVote(request)))
        #expect(driver.transport.sent.isEmpty, "the vote waits for the disk")
        #expect(driver.storage.batches.first?.hardState?.votedFor == 1)
        #expect(driver.storage.batches.first?.mustSync == true)
        persistAll(&driver)
        #expect(driver.transport.sent.map(\.payload) == [.requestVoteResponse(granted: true, isPreVote: false)])
    }

    @Test("the driver snapshots its state machine when the engine asks, and storage keeps it")
    func snapshotsOnRequest() throws {
        var driver = try soloDriver(snapshotInterval: 4)
        driver.campaign()
        persistAll(&driver)
        for token in 1...6 as ClosedRange<UInt64> {
            try driver.propose([2], token: token)
            persistAll(&driver)
        }
        let snapshot = try #require(driver.storage.snapshots.last)
        #expect(snapshot.lastIncludedIndex >= 4)
        // Entry 1 is the leader's no-op; every later one adds 2, so the image holds 2 × (index − 1).
        #expect(snapshot.data == [UInt8(2 * (Int(snapshot.lastIncludedIndex.rawValue) - 1))])
    }

    @Test("a snapshot request made while an overtaken one is being serialised is answered once it is back")
    func snapshotRequestWhileSerialising() throws {
        var options = RaftOptions()
        options.initialConfiguration = Configuration(voters: [1, 2, 3])
        options.snapshotIntervalEntries = 4
        options.entriesRetainedAfterSnapshot = 0
        var driver = Driver(
            engine: try RaftNode(id: 2, options: options), stateMachine: Summer(), storage: HeldStorage(),
            transport: RecordingTransport(), recoveredSnapshot: nil, serializesSnapshotsInline: false)
        func append(after previous: UInt64, _ count: UInt64) {
            let entries = (previous + 1...previous + count).map { Entry(term: 1, index: LogIndex($0), kind: .command([1])) }
            let append = AppendEntries(
                previousIndex: LogIndex(previous), previousTerm: previous == 0 ? 0 : 1, entries: entries,
                leaderCommit: LogIndex(previous + count))
            #expect(driver.receive(Message(from: 1, to: 2, term: 1, payload: .appendEntries(append))) == nil)
            persistAll(&driver)
        }
        append(after: 0, 5)
        let taken = driver.takeSnapshotJob()
        let overtaken = try #require(taken, "5 entries applied, past the interval of 4")
        // The leader sends a snapshot past everything here, then more entries: enough for another snapshot.
        let leaders = Snapshot(
            lastIncludedIndex: 20, lastIncludedTerm: 1, configuration: Configuration(voters: [1, 2, 3]), data: [20])
        #expect(driver.receive(Message(from: 1, to: 2, term: 1, payload: .installSnapshot(leaders))) == nil)
        persistAll(&driver)
        append(after: 20, 5)
        #expect(driver.takeSnapshotJob() == nil, "one snapshot is serialised at a time")
        driver.snapshotSerialized(through: overtaken.index, data: Summer.serialize(overtaken.image))
        #expect(driver.storage.snapshots.isEmpty, "the overtaken snapshot is dropped")
        let retaken = driver.takeSnapshotJob()
        let next = try #require(retaken, "the request made meanwhile was forgotten")
        #expect(next.index == 25)
        driver.snapshotSerialized(through: next.index, data: Summer.serialize(next.image))
        #expect(driver.storage.snapshots.map(\.lastIncludedIndex) == [25])
    }

    @Test("a recovered snapshot is restored before any entry is applied")
    func restoresRecoveredSnapshot() throws {
        var options = RaftOptions()
        options.initialConfiguration = Configuration(voters: [1])
        let snapshot = Snapshot(
            lastIncludedIndex: 7, lastIncludedTerm: 2, configuration: Configuration(voters: [1]), data: [40])
        let recovered = RecoveredState(hardState: HardState(term: 2, votedFor: 1, commitIndex: 7), snapshot: snapshot)
        let driver = Driver(
            engine: try RaftNode(id: 1, options: options, recovered: recovered), stateMachine: Summer(),
            storage: HeldStorage(), transport: RecordingTransport(), recoveredSnapshot: snapshot)
        #expect(driver.stateMachine.total == 40)
        #expect(driver.appliedIndex == 7)
    }
}
