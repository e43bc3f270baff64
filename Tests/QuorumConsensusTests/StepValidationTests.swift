import Testing

@testable import QuorumConsensus

@Suite("Step validation")
struct StepValidationTests {
    struct Malformed: CustomTestStringConvertible, Sendable {
        var name: String
        var message: Message
        var error: StepError
        var testDescription: String { name }
    }

    static func append(term: Term = 2, previousIndex: LogIndex, previousTerm: Term, _ entries: [Entry])
        -> Message.Payload
    {
        .appendEntries(
            AppendEntries(previousIndex: previousIndex, previousTerm: previousTerm, entries: entries, leaderCommit: 0))
    }

    static let cases: [Malformed] = [
        .init(
            name: "addressed to another node",
            message: Message(from: 1, to: 3, term: 2, payload: .heartbeat(commitIndex: 0, readContext: 0)),
            error: .wrongRecipient(3)),
        .init(
            name: "sender id 0",
            message: Message(from: 0, to: 2, term: 2, payload: .heartbeat(commitIndex: 0, readContext: 0)),
            error: .malformed("sender id 0")),
        .init(
            name: "sent to itself",
            message: Message(from: 2, to: 2, term: 2, payload: .timeoutNow),
            error: .malformed("message from n2 to itself")),
        .init(
            name: "entries with a gap",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: append(
                    previousIndex: 2, previousTerm: 1, entries(terms: [1, 2], from: 3) + entries(terms: [2], from: 6))),
            error: .malformed("entries not contiguous at i6")),
        .init(
            name: "entries not starting right after the previous index",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: append(previousIndex: 2, previousTerm: 1, entries(terms: [2], from: 4))),
            error: .malformed("entries not contiguous at i4")),
        .init(
            name: "entry terms going backwards",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: append(previousIndex: 2, previousTerm: 1, entries(terms: [2, 1], from: 3))),
            error: .malformed("entry i4 has term t1 out of order")),
        .init(
            name: "entry term older than the previous entry's",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: append(previousIndex: 2, previousTerm: 2, entries(terms: [1], from: 3))),
            error: .malformed("entry i3 has term t1 out of order")),
        .init(
            name: "entry term newer than the message's",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: append(previousIndex: 2, previousTerm: 1, entries(terms: [3], from: 3))),
            error: .malformed("entry i3 has term t3 out of order")),
        .init(
            name: "snapshot from a future term",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: .installSnapshot(
                    Snapshot(
                        lastIncludedIndex: 9, lastIncludedTerm: 3, configuration: Configuration(voters: [1, 2, 3]),
                        data: []))),
            error: .malformed("snapshot term t3 newer than the message's term t2")),
        .init(
            name: "malformed and from a higher term",
            message: Message(
                from: 1, to: 2, term: 9,
                payload: append(term: 9, previousIndex: 2, previousTerm: 1, entries(terms: [1], from: 4))),
            error: .malformed("entries not contiguous at i4")),
    ]

    /// A follower of n1 at term 2 with `[1@1, 2@1]`, entry 1 committed, and nothing pending.
    static func follower() -> RaftNode {
        var node = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(hardState: HardState(term: 2, commitIndex: 1), entries: entries(terms: [1, 1])))
        step(&node, Message(from: 1, to: 2, term: 2, payload: .heartbeat(commitIndex: 1, readContext: 0)))
        drain(&node)
        drain(&node)
        return node
    }

    @Test("a malformed message is refused with a StepError and changes nothing", arguments: cases)
    func malformedMessageRefused(testCase: Malformed) {
        var node = Self.follower()
        let before = Observable(node)
        #expect(throws: testCase.error) { try node.step(testCase.message) }
        #expect(Observable(node) == before)
        #expect(!node.hasReady)
        node.checkInvariants()
    }

    @Test("a leader refuses malformed messages the same way, and keeps leading")
    func leaderRefusesMalformed() {
        var leader = makeLeader(voters: [1, 2, 3])
        let before = Observable(leader)
        #expect(throws: StepError.wrongRecipient(5)) {
            try leader.step(Message(from: 2, to: 5, term: 1, payload: .appendEntriesResponse(.accepted(matchIndex: 1))))
        }
        #expect(throws: StepError.malformed("sender id 0")) {
            try leader.step(Message(from: 0, to: 1, term: 3, payload: .appendEntriesResponse(.accepted(matchIndex: 1))))
        }
        #expect(Observable(leader) == before)
    }

    @Test("§5.4 entries that conflict with the committed prefix never change it")
    func committedPrefixIsNeverOverwritten() {
        var node = Self.follower()
        // A faulty leader claims entry 1 (committed here) has term 2.
        let faulty = Message(
            from: 1, to: 2, term: 2, payload: Self.append(previousIndex: 0, previousTerm: 0, entries(terms: [2, 2])))
        try? node.step(faulty)
        #expect(node.term(at: 1) == 1)
        #expect(node.commitIndex == 1)
        node.checkInvariants()
    }

    @Test("StepError descriptions say what was wrong")
    func errorDescriptions() {
        #expect(
            StepError.wrongRecipient(3).description == "message addressed to n3 delivered here; check peer addresses")
        #expect(StepError.malformed("x").description == "malformed message: x")
        #expect(StepError.protocolViolation("y").description == "protocol violation: y")
    }

    struct FuzzSeed: CustomTestStringConvertible, Sendable {
        var seed: UInt64
        var testDescription: String { "seed \(seed)" }
    }

    /// Values a forger would try: the edges of UInt64 and Int, and either side of the ceilings.
    static let extremes: [UInt64] = [
        .max, .max - 1, UInt64(Int.max), UInt64(Int.max) + 1, Term.ceiling.rawValue, Term.ceiling.rawValue + 1,
        LogIndex.ceiling.rawValue + 1,
    ]

    /// Random but plausible traffic: terms near the recipient's, indexes near its log, entries that are mostly
    /// well-formed, and now and then a term or index from `extremes`.
    static func randomMessage(to node: RaftNode, using random: inout SplitMix64) -> Message {
        func pick(_ n: UInt64) -> UInt64 { random.next(upperBound: n) }
        func extreme() -> UInt64 { extremes[Int(pick(UInt64(extremes.count)))] }
        let from = NodeID([1, 2, 3, 4].filter { $0 != node.id.rawValue }[Int(pick(3))])
        let term =
            pick(16) == 0
            ? Term(extreme()) : Term(max(node.term.rawValue + pick(3), 1) - 1)
        let last = node.lastIndex.rawValue
        func index() -> LogIndex { pick(16) == 0 ? LogIndex(extreme()) : LogIndex(pick(last + 3)) }
        func termUpTo(_ term: Term) -> UInt64 { term.rawValue == .max ? pick(.max) : pick(term.rawValue + 1) }
        let payload: Message.Payload
        switch pick(11) {
        case 0:
            let previous = index()
            let previousTerm = Term(termUpTo(term))
            var entryTerm = previousTerm.rawValue
            var appended: [Entry] = []
            for offset in 0..<pick(4) {
                entryTerm = min(term.rawValue, entryTerm &+ pick(2))
                appended.append(
                    Entry(term: Term(entryTerm), index: LogIndex(previous.rawValue &+ offset &+ 1), kind: .command([1]))
                )
            }
            payload = .appendEntries(
                AppendEntries(
                    previousIndex: previous, previousTerm: previousTerm, entries: appended, leaderCommit: index()))
        case 1:
            payload = .appendEntriesResponse(.accepted(matchIndex: LogIndex(pick(last + 1))))
        case 2:
            payload = .appendEntriesResponse(
                .rejected(rejectedIndex: index(), hintIndex: index(), hintTerm: Term(termUpTo(term))))
        case 3:
            payload = .requestVote(
                VoteRequest(
                    lastLogIndex: index(), lastLogTerm: Term(termUpTo(term)), isPreVote: pick(2) == 0,
                    isLeadershipTransfer: pick(4) == 0))
        case 4:
            payload = .requestVoteResponse(granted: pick(2) == 0, isPreVote: pick(2) == 0)
        case 5:
            payload = .heartbeat(commitIndex: index(), readContext: pick(3))
        case 6:
            payload = .heartbeatResponse(readContext: pick(3))
        case 7:
            let voters: Set<NodeID> = pick(2) == 0 ? [1, 2, 3] : [1, 2, 3, 4]
            payload = .installSnapshot(
                Snapshot(
                    lastIncludedIndex: index(), lastIncludedTerm: Term(termUpTo(term)),
                    configuration: Configuration(voters: voters), data: [9]))
        case 8:
            payload = .timeoutNow
        case 9:
            payload = .readIndexRequest(requestID: pick(100))
        default:
            payload = .readIndexResponse(requestID: pick(100), index: pick(2) == 0 ? nil : index())
        }
        return Message(from: from, to: node.id, term: term, payload: payload)
    }

    @Test(
        "random plausible messages never trap the engine or break its invariants",
        arguments: (1...12 as ClosedRange<UInt64>).map { FuzzSeed(seed: $0) })
    func fuzzNeverTraps(fuzz: FuzzSeed) {
        var random = SplitMix64(seed: fuzz.seed)
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        for byte in 0..<4 as Range<UInt8> { cluster.propose([byte]) }
        for _ in 0..<1500 {
            let target = NodeID(1 + random.next(upperBound: 3 as UInt64))
            switch random.next(upperBound: 10 as UInt64) {
            case 0:
                cluster[target].tick()
            case 1:
                if cluster[target].role == .leader { _ = try? cluster.nodes[target]!.propose([7]) }
            case 2:
                _ = try? cluster.nodes[target]!.readIndex(requestID: random.next(upperBound: 100))
            default:
                let message = Self.randomMessage(to: cluster[target], using: &random)
                _ = try? cluster.nodes[target]!.step(message)
            }
            cluster[target].checkInvariants()
            if cluster[target].hasReady {
                let ready = cluster.nodes[target]!.ready()
                cluster.nodes[target]!.acknowledge(readyNumber: ready.number)
            }
            cluster[target].checkInvariants()
        }
    }
}

/// Terms and indexes that no correct cluster reaches: one forged message with a term of 2^64-1 once crashed every
/// node of a cluster (the term is durable, so every restart crashed again).
@Suite("Out-of-range fields")
struct OutOfRangeFieldTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var message: Message
        var testDescription: String { name }
    }

    static let huge = LogIndex(UInt64.max)
    static let beyondCeiling = Term(Term.ceiling.rawValue + 2)

    static let cases: [Case] = [
        .init(
            name: "heartbeat at term 2^64-1",
            message: Message(
                from: 1, to: 2, term: Term(UInt64.max), payload: .heartbeat(commitIndex: 0, readContext: 0))),
        .init(
            name: "vote request at term 2^64-1",
            message: Message(
                from: 3, to: 2, term: Term(UInt64.max),
                payload: .requestVote(
                    VoteRequest(lastLogIndex: 9, lastLogTerm: 9, isPreVote: false, isLeadershipTransfer: true)))),
        .init(
            name: "timeout-now beyond the ceiling",
            message: Message(from: 1, to: 2, term: beyondCeiling, payload: .timeoutNow)),
        .init(
            name: "append after index Int.max",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: .appendEntries(
                    AppendEntries(
                        previousIndex: LogIndex(UInt64(Int.max)), previousTerm: 1,
                        entries: [Entry(term: 2, index: LogIndex(UInt64(Int.max)), kind: .noop)], leaderCommit: 0)))),
        .init(
            name: "append with a leader commit of 2^64-1",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: .appendEntries(
                    AppendEntries(previousIndex: 2, previousTerm: 1, entries: [], leaderCommit: huge)))),
        .init(
            name: "append with a previous term of 2^64-1",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: .appendEntries(
                    AppendEntries(previousIndex: 2, previousTerm: Term(UInt64.max), entries: [], leaderCommit: 0)))),
        .init(
            name: "acknowledgement of index 2^64-1",
            message: Message(from: 1, to: 2, term: 2, payload: .appendEntriesResponse(.accepted(matchIndex: huge)))),
        .init(
            name: "rejection hinting at 2^64-1",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: .appendEntriesResponse(
                    .rejected(rejectedIndex: huge, hintIndex: huge, hintTerm: Term(UInt64.max))))),
        .init(
            name: "vote request with a last index of 2^64-1",
            message: Message(
                from: 3, to: 2, term: 2,
                payload: .requestVote(
                    VoteRequest(
                        lastLogIndex: huge, lastLogTerm: Term(UInt64.max), isPreVote: true, isLeadershipTransfer: false)
                ))),
        .init(
            name: "heartbeat committing 2^64-1",
            message: Message(from: 1, to: 2, term: 2, payload: .heartbeat(commitIndex: huge, readContext: 0))),
        .init(
            name: "snapshot through 2^64-1",
            message: Message(
                from: 1, to: 2, term: 2,
                payload: .installSnapshot(
                    Snapshot(
                        lastIncludedIndex: huge, lastIncludedTerm: 1, configuration: Configuration(voters: [1, 2, 3]),
                        data: [])))),
        .init(
            name: "read answer at 2^64-1",
            message: Message(from: 1, to: 2, term: 2, payload: .readIndexResponse(requestID: 1, index: huge))),
    ]

    @Test("a field beyond what a correct cluster reaches is refused as malformed and changes nothing", arguments: cases)
    func refused(testCase: Case) {
        var node = StepValidationTests.follower()
        let before = Observable(node)
        #expect(throws: StepError.self) { try node.step(testCase.message) }
        do {
            try node.step(testCase.message)
        } catch {
            guard case .malformed = error else { return #expect(Bool(false), "refused as \(error), not as malformed") }
        }
        #expect(Observable(node) == before)
        // The node goes on to campaign and count terms as usual.
        for _ in 0..<40 { node.tick() }
        #expect(node.role != .follower || node.term > before.term)
        node.checkInvariants()
    }

    @Test("a cluster pushed to the ceiling by a forged term still elects leaders beyond it")
    func electsPastTheCeiling() {
        let recovered = RecoveredState(hardState: HardState(term: Term.ceiling))
        var cluster = TestCluster(
            nodes: (1...3 as ClosedRange<UInt64>).map { id in
                var options = testOptions(voters: [1, 2, 3], seed: id)
                options.preVote = false
                return makeNode(NodeID(id), options: options, recovered: recovered)
            })
        cluster.elect(1)
        #expect(cluster[1].term == Term.ceiling.next)
        cluster.propose([1])
        #expect(throws: Never.self) { try cluster.nodes[1]!.transferLeadership(to: 2) }
        cluster.stabilize()
        #expect(cluster.leader == 2)
        #expect(cluster[2].term == Term(Term.ceiling.rawValue + 2))
        #expect(cluster.stepErrors.isEmpty)
    }

    @Test("a recovered term no correct cluster reaches is refused with a reason, not trapped on later")
    func recoveredTermRefused() {
        var options = testOptions(voters: [1, 2, 3])
        options.preVote = false
        let poisoned = RecoveredState(hardState: HardState(term: Term(UInt64.max)))
        #expect(throws: OptionsError.self) { try RaftNode(id: 1, options: options, recovered: poisoned) }
    }

    @Test("a recovered commit index beyond the recovered log is refused, not clamped: committed entries are missing")
    func recoveredCommitBeyondLogRefused() {
        let options = testOptions(voters: [1, 2, 3])
        let lost = RecoveredState(hardState: HardState(term: 1, commitIndex: 10), entries: entries(terms: [1, 1, 1]))
        #expect(throws: OptionsError.self) { try RaftNode(id: 1, options: options, recovered: lost) }
        let snapshot = Snapshot(lastIncludedIndex: 8, lastIncludedTerm: 1, configuration: options.initialConfiguration, data: [])
        let whole = RecoveredState(
            hardState: HardState(term: 1, commitIndex: 10), snapshot: snapshot, entries: entries(terms: [1, 1], from: 9))
        #expect(throws: Never.self) { try RaftNode(id: 1, options: options, recovered: whole) }
    }

    @Test("recovered entries that do not follow one another, or the snapshot, are refused as damaged data")
    func recoveredGapRefused() {
        let options = testOptions(voters: [1, 2, 3])
        let gap = RecoveredState(hardState: HardState(term: 1), entries: entries(terms: [1]) + entries(terms: [1], from: 3))
        #expect(throws: OptionsError.self) { try RaftNode(id: 1, options: options, recovered: gap) }
        let snapshot = Snapshot(lastIncludedIndex: 8, lastIncludedTerm: 1, configuration: options.initialConfiguration, data: [])
        let detached = RecoveredState(hardState: HardState(term: 1), snapshot: snapshot, entries: entries(terms: [1], from: 10))
        #expect(throws: OptionsError.self) { try RaftNode(id: 1, options: options, recovered: detached) }
    }

    @Test("a second leader in a leader's own term is reported, and does not depose it", arguments: [
        Message.Payload.heartbeat(commitIndex: 0, readContext: 0),
        StepValidationTests.append(term: 1, previousIndex: 1, previousTerm: 1, []),
        .installSnapshot(
            Snapshot(lastIncludedIndex: 9, lastIncludedTerm: 1, configuration: Configuration(voters: [1, 2, 3]), data: [])),
    ])
    func secondLeaderReported(payload: Message.Payload) {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        let term = cluster[1].term
        #expect(throws: StepError.self) { try cluster.nodes[1]!.step(Message(from: 3, to: 1, term: term, payload: payload)) }
        #expect(cluster[1].role == .leader)
    }
}
