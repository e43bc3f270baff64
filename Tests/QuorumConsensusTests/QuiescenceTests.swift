import Testing

@testable import QuorumConsensus

/// A three-node cluster with quiescence on, led by 1, that has gone quiet: every node is quiescent.
func quiescentCluster(voters: Int = 3, configure: (inout RaftOptions) -> Void = { _ in }) -> TestCluster {
    var cluster = TestCluster(voters: voters) {
        $0.quiescence = true
        configure(&$0)
    }
    cluster.elect(1)
    cluster.propose([1])
    cluster.tickAll(times: 10)
    precondition(cluster.ids.allSatisfy { cluster[$0].isQuiescent }, "test setup: the cluster should be quiescent")
    return cluster
}

/// Messages delivered from now on, for counting what a scenario sent.
extension TestCluster {
    mutating func forgetDelivered() { delivered.removeAll() }
}

@Suite("Quiescence")
struct QuiescenceTests {
    @Test("an idle leader quiesces its group with one message per follower, and then the group is silent")
    func idleGroupFallsSilent() {
        var cluster = TestCluster(voters: 3) { $0.quiescence = true }
        cluster.elect(1)
        cluster.propose([1])
        cluster.forgetDelivered()
        cluster.tickAll(times: 10)
        #expect(cluster.ids.allSatisfy { cluster[$0].isQuiescent })
        let quiesces = cluster.deliveredMessages(from: 1) { _ in true }.filter(\.isQuiesce)
        #expect(quiesces.map(\.to).sorted() == [2, 3], "one quiesce per follower")
        #expect(quiesces.allSatisfy { if case .heartbeat(let commit, _) = $0.payload { commit == 2 } else { false } })
        cluster.forgetDelivered()
        cluster.tickAll(times: 100)
        #expect(cluster.delivered.isEmpty, "a quiescent group sends nothing: \(cluster.delivered)")
        #expect(cluster.leader == 1)
        #expect(cluster.ids.allSatisfy { cluster[$0].term == 1 }, "and nobody campaigned")
    }

    @Test("with quiescence off (the default) an idle group keeps heartbeating")
    func withoutQuiescenceGroupKeepsBeating() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.tickAll(times: 10)
        cluster.forgetDelivered()
        cluster.tickAll(times: 10)
        #expect(cluster.ids.allSatisfy { !cluster[$0].isQuiescent })
        #expect(cluster.deliveredMessages(from: 1, where: \.isHeartbeat).count == 20)
    }

    @Test("a leader does not quiesce while a follower lacks its last entry")
    func laggingFollowerKeepsGroupAwake() {
        var cluster = TestCluster(voters: 3) { $0.quiescence = true }
        cluster.elect(1)
        cluster.isolated = [3]
        cluster.propose([1])
        cluster.tick(1, times: 30)
        #expect(!cluster[1].isQuiescent)
        #expect(!cluster[2].isQuiescent)
        cluster.isolated = []
        cluster.tickAll(times: 10)
        #expect(cluster.ids.allSatisfy { cluster[$0].isQuiescent }, "once it catches up, the group quiesces")
    }

    @Test("a leader quiesces past a follower whose node the host reports silent, and wakes to catch it up")
    func leaderQuiescesPastSilentNode() {
        var cluster = TestCluster(voters: 3) { $0.quiescence = true }
        cluster.elect(1)
        cluster.isolated = [3]
        cluster.propose([1])
        cluster.tick(1, times: 30)
        #expect(!cluster[1].isQuiescent, "a crashed member kept its group awake for good")
        cluster[1].reportUnreachable([3])
        cluster.tick(1, times: 10)
        #expect(cluster[1].isQuiescent && cluster[2].isQuiescent, "2 of 3 voters are a quorum: the group quiesces")
        cluster.forgetDelivered()
        cluster.tickAll(times: 50)
        #expect(cluster.deliveredMessages(from: 1) { _ in true }.isEmpty, "and stays silent")
        // Node 3 is heard again: the host wakes the leader, which catches it up and quiesces the whole group.
        cluster.isolated = []
        cluster[1].reportUnreachable([])
        cluster[1].wake()
        cluster.tickAll(times: 20)
        #expect(cluster[3].lastIndex == cluster[1].lastIndex)
        #expect(cluster.ids.allSatisfy { cluster[$0].isQuiescent })
        #expect(cluster.leader == 1 && cluster.ids.allSatisfy { cluster[$0].term == 1 }, "nobody campaigned")
    }

    @Test("a quiescent leader whose followers' nodes fall silent, once woken, steps down")
    func wokenLeaderWithoutQuorumStepsDown() {
        var cluster = quiescentCluster()
        cluster.isolated = [2, 3]
        cluster.tick(1, times: 50)
        #expect(cluster[1].role == .leader, "asleep, a leader runs no CheckQuorum: the host must wake it")
        cluster[1].reportUnreachable([2, 3])
        cluster[1].wake()
        cluster.tick(1, times: 30)
        #expect(cluster[1].role != .leader)
    }

    @Test("a leader does not quiesce past silent nodes that leave it no quorum")
    func noQuiescenceWithoutQuorum() {
        var cluster = TestCluster(voters: 5) { $0.quiescence = true }
        cluster.elect(1)
        cluster.isolated = [4, 5]
        cluster.propose([1])
        cluster[1].reportUnreachable([3, 4, 5])
        cluster.tick(1, times: 8)
        #expect(!cluster[1].isQuiescent, "1 and 2 are no quorum of 5")
        cluster[1].reportUnreachable([4, 5])
        cluster.tickAll(times: 10)
        #expect(cluster[1].isQuiescent, "1, 2 and 3 are")
    }

    @Test("a leader waits quiescenceIdleTicks of idleness before it quiesces", arguments: [1, 3, 8])
    func idleTicksBeforeQuiescing(idleTicks: Int) {
        var cluster = TestCluster(voters: 3) {
            $0.quiescence = true
            $0.quiescenceIdleTicks = idleTicks
        }
        cluster.elect(1)
        cluster.propose([1])
        var ticks = 0
        while !cluster[1].isQuiescent && ticks < 50 {
            cluster.tick(1)
            ticks += 1
        }
        #expect(ticks == idleTicks)
    }

    @Test("a quiescent follower never campaigns, however long its leader is silent")
    func quiescentFollowerWaits() {
        var cluster = quiescentCluster()
        cluster.isolated = [1]
        cluster.tickAll(times: 200)
        #expect(cluster[2].role == .follower && cluster[3].role == .follower)
        #expect(cluster[2].term == 1 && cluster[3].term == 1)
    }

    @Test("told its leader's node lost liveness, a quiescent follower campaigns after a normal election timeout")
    func wakeAfterLeaderLostLivenessCampaigns() {
        var cluster = quiescentCluster()
        cluster.isolated = [1]
        cluster.nodes[2]!.wake()
        cluster.nodes[3]!.wake()
        #expect(!cluster[2].isQuiescent && !cluster[3].isQuiescent)
        cluster.tickAll(times: 9)
        #expect(cluster[2].term == 1 && cluster[3].term == 1, "not before the minimum election timeout")
        cluster.tickAll(times: 25)
        let leader = cluster.leader
        #expect(leader == 2 || leader == 3, "a new leader: \(cluster.ids.map { cluster[$0].role })")
        #expect(cluster[leader ?? 2].term > 1)
    }

    @Test("a false alarm wakes the leader instead of starting an election")
    func wakeWithLiveLeaderEndsInHeartbeats() {
        var cluster = quiescentCluster()
        cluster.nodes[2]!.wake()
        cluster.stabilize()
        #expect(!cluster[1].isQuiescent, "the follower asked its leader to wake")
        let wakeRequests = cluster.deliveredMessages(from: 2, to: 1) {
            $0 == .heartbeatResponse(readContext: Message.quiescenceFlag)
        }
        #expect(wakeRequests.count == 1)
        cluster.tickAll(times: 40)
        #expect(cluster.leader == 1)
        #expect(cluster.ids.allSatisfy { cluster[$0].term == 1 })
        #expect(cluster.ids.allSatisfy { cluster[$0].isQuiescent }, "and the group quiesces again")
    }

    @Test("woken by the host, a follower forgets its leader: it names no leader and grants a pre-vote at once")
    func wokenFollowerForgetsLeader() {
        var cluster = quiescentCluster()
        cluster.nodes[2]!.wake()
        #expect(cluster[2].leaderHint == nil)
        #expect(throws: ProposalError.notLeader(leaderHint: nil)) { try cluster.nodes[2]!.readIndex(requestID: 1) }
        drain(&cluster.nodes[2]!)
        let preVote = VoteRequest(lastLogIndex: 2, lastLogTerm: 1, isPreVote: true, isLeadershipTransfer: false)
        step(&cluster.nodes[2]!, Message(from: 3, to: 2, term: 2, payload: .requestVote(preVote)))
        let ready = drain(&cluster.nodes[2]!)
        #expect(ready.messages.map(\.payload) == [.requestVoteResponse(granted: true, isPreVote: true)])
    }

    @Test("a leader that woke does not quiesce again until every follower has answered it since")
    func wokenLeaderWaitsForAnswers() {
        var cluster = quiescentCluster()
        // The leader hears its followers but cannot reach them: nothing it sends is answered.
        cluster.dropWhere = { $0.from == 1 }
        cluster.nodes[1]!.wake()
        for _ in 0..<9 {
            cluster.tick(1)
            #expect(!cluster[1].isQuiescent)
        }
    }

    @Test("wake() does nothing to a node that is awake")
    func wakeOfAwakeNodeIsNoOp() {
        var cluster = TestCluster(voters: 3) { $0.quiescence = true }
        cluster.elect(1)
        let before = Observable(cluster[2])
        cluster.nodes[2]!.wake()
        #expect(Observable(cluster[2]) == before)
        #expect(!cluster[2].hasReady)
    }

    struct LeaderInput: CustomTestStringConvertible, Sendable {
        var name: String
        var apply: @Sendable (inout RaftNode) throws -> Void
        var testDescription: String { name }
    }

    static let leaderInputs: [LeaderInput] = [
        .init(name: "a proposal") { _ = try $0.propose([9]) },
        .init(name: "a read") { try $0.readIndex(requestID: 1) },
        .init(name: "a membership change") {
            _ = try $0.proposeConfigurationChange(.addLearner(4, promoteWhenCaughtUp: false))
        },
        .init(name: "a leadership transfer") { try $0.transferLeadership(to: 2) },
        .init(name: "the host's wake()") { $0.wake() },
    ]

    @Test("each of these wakes a quiescent leader, which heartbeats at once", arguments: leaderInputs)
    func inputWakesLeader(input: LeaderInput) throws {
        var cluster = quiescentCluster()
        try input.apply(&cluster.nodes[1]!)
        #expect(!cluster[1].isQuiescent)
        let ready = cluster.processReady(1)
        #expect(Set(ready.messages.filter { $0.payload.isHeartbeat && !$0.isQuiesce }.map(\.to)) == [2, 3])
    }

    struct Arrival: CustomTestStringConvertible, Sendable {
        var name: String
        var message: Message
        var wakes: Bool
        /// Whether the woken follower asks its leader (1) to wake too.
        var asksLeader: Bool = false
        var testDescription: String { name }
    }

    static let followerArrivals: [Arrival] = [
        .init(
            name: "a duplicate of the quiesce",
            message: Message(
                from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 2, readContext: Message.quiescenceFlag)),
            wakes: false),
        .init(
            name: "a message of an older term",
            message: Message(from: 3, to: 2, term: 0, payload: .heartbeat(commitIndex: 0, readContext: 0)),
            wakes: false),
        .init(
            name: "an ordinary heartbeat from the leader",
            message: Message(from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 2, readContext: 3)),
            wakes: true),
        .init(
            name: "an append from the leader",
            message: Message(
                from: 1, to: 2, term: 1,
                payload: .appendEntries(
                    AppendEntries(
                        previousIndex: 2, previousTerm: 1, entries: [Entry(term: 1, index: 3, kind: .command([5]))],
                        leaderCommit: 2))),
            wakes: true),
        .init(
            name: "another node's pre-vote request",
            message: Message(
                from: 3, to: 2, term: 2,
                payload: .requestVote(
                    VoteRequest(lastLogIndex: 2, lastLogTerm: 1, isPreVote: true, isLeadershipTransfer: false))),
            wakes: true, asksLeader: true),
    ]

    @Test("a quiescent follower wakes on exactly the messages that do not fit its state", arguments: followerArrivals)
    func followerWakesOnInconsistentMessage(arrival: Arrival) {
        var cluster = quiescentCluster()
        step(&cluster.nodes[2]!, arrival.message)
        #expect(cluster[2].isQuiescent == !arrival.wakes)
        let ready = drain(&cluster.nodes[2]!)
        let wakeRequests = ready.messagesAfterPersist.filter {
            $0.to == 1 && $0.payload == .heartbeatResponse(readContext: Message.quiescenceFlag)
        }
        #expect(wakeRequests.count == (arrival.asksLeader ? 1 : 0))
    }

    static let leaderArrivals: [Arrival] = [
        .init(
            name: "a heartbeat response",
            message: Message(from: 2, to: 1, term: 1, payload: .heartbeatResponse(readContext: 0)), wakes: false),
        .init(
            name: "a duplicate acknowledgement",
            message: Message(from: 2, to: 1, term: 1, payload: .appendEntriesResponse(.accepted(matchIndex: 2))),
            wakes: false),
        .init(
            name: "a follower's request to wake",
            message: Message(from: 2, to: 1, term: 1, payload: .heartbeatResponse(readContext: Message.quiescenceFlag)),
            wakes: true),
        .init(
            name: "a forwarded read",
            message: Message(from: 2, to: 1, term: 1, payload: .readIndexRequest(requestID: 4)), wakes: true),
        .init(
            name: "a restarted node's pre-vote request",
            message: Message(
                from: 3, to: 1, term: 2,
                payload: .requestVote(
                    VoteRequest(lastLogIndex: 2, lastLogTerm: 1, isPreVote: true, isLeadershipTransfer: false))),
            wakes: true),
    ]

    @Test("a quiescent leader wakes on exactly the messages that do not fit its state", arguments: leaderArrivals)
    func leaderWakesOnInconsistentMessage(arrival: Arrival) {
        var cluster = quiescentCluster()
        step(&cluster.nodes[1]!, arrival.message)
        #expect(cluster[1].isQuiescent == !arrival.wakes)
        #expect(cluster[1].role == .leader)
    }

    @Test("a follower that does not hold the leader's log refuses to quiesce and asks the leader to stay awake")
    func laggingFollowerRefusesQuiesce() {
        var node = makeNode(2, options: testOptions(voters: [1, 2, 3]).withQuiescence)
        step(&node, Message(from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 0, readContext: 0)))
        drain(&node)
        step(
            &node,
            Message(from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 0, readContext: Message.quiescenceFlag)))
        #expect(node.isQuiescent, "an empty log matches a leader at commit 0")
        var lagging = makeNode(3, options: testOptions(voters: [1, 2, 3]).withQuiescence)
        step(
            &lagging,
            Message(from: 1, to: 3, term: 1, payload: .heartbeat(commitIndex: 4, readContext: Message.quiescenceFlag)))
        #expect(!lagging.isQuiescent)
        let ready = drain(&lagging)
        #expect(ready.messagesAfterPersist.map(\.payload) == [.heartbeatResponse(readContext: Message.quiescenceFlag)])
    }

    @Test("a leader's node that restarts (forgetting it led) gets a new election from its quiescent followers")
    func restartedLeaderIsReplaced() {
        var cluster = quiescentCluster()
        let old = cluster[1]
        let recovered = RecoveredState(
            hardState: HardState(term: old.term, votedFor: old.votedFor, commitIndex: old.commitIndex),
            entries: cluster.log(of: 1))
        cluster[1] = makeNode(1, options: testOptions(voters: [1, 2, 3], seed: 1).withQuiescence, recovered: recovered)
        cluster.tickAll(times: 60)
        #expect(cluster.leader != nil, "\(cluster.ids.map { "\(cluster[$0].role) \(cluster[$0].term)" })")
        #expect(cluster[cluster.leader ?? 1].term > 1)
    }

    struct ReadCase: CustomTestStringConvertible, Sendable {
        var leaseReads: Bool
        var injectedBug: InjectedBug?
        var testDescription: String {
            "lease reads \(leaseReads ? "on" : "off")" + (injectedBug.map { ", bug \($0.rawValue)" } ?? "")
        }
    }

    @Test(
        "a quiescent leader that lost its followers answers no read (the bug answers one)",
        arguments: [
            ReadCase(leaseReads: false), ReadCase(leaseReads: true),
            ReadCase(leaseReads: true, injectedBug: .quiescentLeaderServesReads),
        ])
    func quiescentLeaderServesNoLeaseRead(readCase: ReadCase) throws {
        var cluster = quiescentCluster {
            $0.leaseReads = readCase.leaseReads
            $0.injectedBug = readCase.injectedBug
        }
        cluster.isolated = [2, 3]
        try cluster.nodes[1]!.readIndex(requestID: 5)
        cluster.tick(1, times: 3)
        let answered = cluster.readStates[1, default: []].contains { $0.requestID == 5 && $0.index != nil }
        #expect(answered == (readCase.injectedBug != nil))
    }

    @Test("after waking, a lease-reading leader confirms with a quorum once, then serves leases again")
    func leaseResumesAfterQuorumAnswers() throws {
        var cluster = quiescentCluster { $0.leaseReads = true }
        try cluster.nodes[1]!.readIndex(requestID: 1)
        let first = cluster.processReady(1)
        #expect(first.readStates.isEmpty, "the first read after waking waits for a heartbeat round")
        cluster.stabilize()
        #expect(cluster.readStates[1]?.map(\.requestID) == [1])
        try cluster.nodes[1]!.readIndex(requestID: 2)
        let second = cluster.processReady(1)
        #expect(second.readStates.map(\.requestID) == [2], "a quorum answered since waking: the lease holds again")
    }

    @Test("a read on a quiescent follower wakes it and reaches the leader, which wakes and answers")
    func followerReadWakesGroup() throws {
        var cluster = quiescentCluster()
        try cluster.nodes[2]!.readIndex(requestID: 8)
        #expect(!cluster[2].isQuiescent)
        cluster.stabilize()
        #expect(!cluster[1].isQuiescent)
        #expect(cluster.readStates[2] == [ReadState(requestID: 8, index: 2)])
    }

    @Test("a proposal on a quiescent leader commits everywhere, and the group quiesces again afterwards")
    func proposalWakesAndGroupRequiesces() {
        var cluster = quiescentCluster()
        cluster.propose([7])
        #expect(cluster.ids.allSatisfy { !cluster[$0].isQuiescent })
        cluster.tickAll(times: 10)
        #expect(cluster.ids.allSatisfy { cluster[$0].commitIndex == 3 && cluster[$0].isQuiescent })
    }

    @Test("campaign() on a quiescent follower starts an election")
    func campaignWakes() {
        var cluster = quiescentCluster()
        cluster.nodes[3]!.campaign()
        #expect(!cluster[3].isQuiescent)
        #expect(cluster[3].role == .preCandidate)
    }
}

extension RaftOptions {
    var withQuiescence: RaftOptions {
        var options = self
        options.quiescence = true
        return options
    }
}
