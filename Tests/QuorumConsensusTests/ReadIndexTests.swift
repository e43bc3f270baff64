import Testing

@testable import QuorumConsensus

@Suite("ReadIndex")
struct ReadIndexTests {
    @Test("100 reads on the leader in one turn share one heartbeat round")
    func leaderReadsShareOneRound() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        let heartbeatsBefore = cluster.deliveredMessages(from: 1, where: \.isHeartbeat).count
        for requestID in 1...100 as ClosedRange<UInt64> { try cluster.nodes[1]!.readIndex(requestID: requestID) }
        let ready = cluster.processReady(1)
        #expect(ready.messages.filter(\.payload.isHeartbeat).count == 2, "one heartbeat per follower")
        cluster.stabilize()
        #expect(cluster.deliveredMessages(from: 1, where: \.isHeartbeat).count == heartbeatsBefore + 2)
        #expect(cluster.readStates[1] == (1...100).map { ReadState(requestID: $0, index: 2) })
    }

    @Test("100 reads on a follower in one turn travel as one request, confirmed by one heartbeat round")
    func followerReadsShareOneRequest() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.heartbeat()
        let heartbeatsBefore = cluster.deliveredMessages(from: 1, where: \.isHeartbeat).count
        for requestID in 1...100 as ClosedRange<UInt64> { try cluster.nodes[2]!.readIndex(requestID: requestID) }
        let ready = cluster.processReady(2)
        #expect(ready.messages.count == 1 && ready.messages.allSatisfy { $0.to == 1 && $0.payload.isReadIndexRequest })
        cluster.stabilize()
        #expect(cluster.deliveredMessages(from: 1, where: \.isHeartbeat).count == heartbeatsBefore + 2)
        #expect(cluster.readStates[2] == (1...100).map { ReadState(requestID: $0, index: 2) })
    }

    @Test("§6.4 a leader answers a read only after a quorum acknowledges a heartbeat sent after it")
    func leaderReadWaitsForHeartbeatQuorum() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        try cluster.nodes[1]!.readIndex(requestID: 7)
        let ready = cluster.processReady(1)
        #expect(ready.readStates.isEmpty, "not before leadership is confirmed")
        let heartbeats = ready.messages.filter(\.payload.isHeartbeat)
        #expect(heartbeats.count == 2)
        #expect(
            heartbeats.allSatisfy { if case .heartbeat(_, let context) = $0.payload { context > 0 } else { false } })
        cluster.stabilize()
        #expect(cluster.readStates[1] == [ReadState(requestID: 7, index: 2)])
    }

    @Test("§6.4 a read stays unanswered while the leader cannot reach a quorum, and is answered once it can")
    func leaderReadNeedsQuorum() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [2, 3]
        try cluster.nodes[1]!.readIndex(requestID: 1)
        cluster.stabilize()
        cluster.tick(1, times: 3)
        #expect(cluster.readStates[1, default: []].isEmpty)
        cluster.isolated = [3]
        cluster.heartbeat()
        #expect(cluster.readStates[1] == [ReadState(requestID: 1, index: 1)])
    }

    @Test("§6.4 one minority acknowledgement is not enough in a five-node cluster")
    func minorityAcknowledgementIsNotEnough() throws {
        var cluster = TestCluster(voters: 5)
        cluster.elect(1)
        cluster.isolated = [3, 4, 5]
        try cluster.nodes[1]!.readIndex(requestID: 1)
        cluster.stabilize()
        #expect(cluster.readStates[1, default: []].isEmpty)
        cluster.isolated = [4, 5]
        cluster.heartbeat()
        #expect(cluster.readStates[1] == [ReadState(requestID: 1, index: 1)])
    }

    @Test("§6.4 a follower forwards a read to its leader and receives the index to wait for")
    func followerReadIsForwarded() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.heartbeat()
        try cluster.nodes[2]!.readIndex(requestID: 42)
        let ready = cluster.processReady(2)
        #expect(ready.messages.count == 1 && ready.messages.allSatisfy { $0.to == 1 && $0.payload.isReadIndexRequest })
        cluster.stabilize()
        #expect(cluster.readStates[2] == [ReadState(requestID: 42, index: 2)])
        #expect(cluster.readStates[1, default: []].isEmpty)
    }

    @Test("§6.4 a node that knows no leader refuses a read")
    func readWithoutLeaderIsRefused() {
        var node = makeNode(2, options: testOptions(voters: [1, 2, 3]))
        #expect(throws: ProposalError.notLeader(leaderHint: nil)) { try node.readIndex(requestID: 1) }
    }

    @Test("§6.4 a read forwarded to a node that no longer leads is answered with no index")
    func forwardedReadToNonLeaderFails() {
        var node = makeNode(1, options: testOptions(voters: [1, 2, 3]))
        step(&node, Message(from: 2, to: 1, term: 0, payload: .readIndexRequest(requestID: 9)))
        let ready = drain(&node)
        #expect(
            ready.messages == [Message(from: 1, to: 2, term: 0, payload: .readIndexResponse(requestID: 9, index: nil))])
    }

    @Test("§6.4 pending reads fail, locally and for followers, when the leader loses leadership")
    func pendingReadsFailOnLeadershipLoss() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.dropWhere = { $0.payload.isHeartbeat }
        try cluster.nodes[1]!.readIndex(requestID: 1)
        try cluster.nodes[2]!.readIndex(requestID: 2)
        cluster.stabilize()
        #expect(cluster.readStates[1, default: []].isEmpty)
        #expect(cluster.readStates[2, default: []].isEmpty)
        // A higher term deposes the leader (a new election it did not hear about).
        cluster.deliver(Message(from: 3, to: 1, term: 5, payload: .appendEntriesResponse(.accepted(matchIndex: 0))))
        #expect(cluster[1].role == .follower)
        cluster.isolated = [3]
        cluster.stabilize()
        #expect(cluster.readStates[1] == [ReadState(requestID: 1, index: nil)])
        #expect(cluster.readStates[2] == [ReadState(requestID: 2, index: nil)])
    }

    @Test("§6.4 a leader that steps down for lack of a quorum fails its pending reads")
    func checkQuorumStepDownFailsReads() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [2, 3]
        try cluster.nodes[1]!.readIndex(requestID: 3)
        cluster.tick(1, times: 20)
        #expect(cluster[1].role != .leader)
        #expect(cluster.readStates[1] == [ReadState(requestID: 3, index: nil)])
    }

    @Test("§6.4 a new leader holds reads until an entry of its own term commits")
    func newLeaderDefersReads() throws {
        var cluster = TestCluster(voters: 3)
        cluster.dropWhere = { $0.payload.isAppendResponse }
        cluster[1].campaign()
        cluster.stabilize()
        #expect(cluster[1].role == .leader)
        #expect(cluster[1].commitIndex == 0)
        try cluster.nodes[1]!.readIndex(requestID: 5)
        cluster.stabilize()
        #expect(cluster.readStates[1, default: []].isEmpty)
        #expect(cluster.deliveredMessages(from: 1) { $0.isHeartbeat }.isEmpty, "no heartbeat round yet")
        cluster.dropWhere = nil
        cluster.heartbeat()
        cluster.heartbeat()
        #expect(cluster[1].commitIndex == 1)
        #expect(cluster.readStates[1] == [ReadState(requestID: 5, index: 1)])
    }

    @Test("§6.4 reads arriving together share one heartbeat round and are answered in order")
    func readsShareOneRound() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        for id in 1...3 as ClosedRange<UInt64> { try cluster.nodes[1]!.readIndex(requestID: id) }
        let ready = cluster.processReady(1)
        #expect(ready.messages.filter(\.payload.isHeartbeat).count == 2)
        cluster.stabilize()
        #expect(cluster.readStates[1]?.map(\.requestID) == [1, 2, 3])
    }

    @Test("§6.4 a heartbeat answer from an older round does not confirm a newer read")
    func olderRoundDoesNotConfirmNewerRead() throws {
        var leader = makeLeader(voters: [1, 2, 3])
        step(&leader, Message(from: 2, to: 1, term: 1, payload: .appendEntriesResponse(.accepted(matchIndex: 1))))
        drain(&leader)
        try leader.readIndex(requestID: 1)
        drain(&leader)
        try leader.readIndex(requestID: 2)
        drain(&leader)
        step(&leader, Message(from: 2, to: 1, term: 1, payload: .heartbeatResponse(readContext: 1)))
        #expect(drain(&leader).readStates == [ReadState(requestID: 1, index: 1)])
        step(&leader, Message(from: 3, to: 1, term: 1, payload: .heartbeatResponse(readContext: 2)))
        #expect(drain(&leader).readStates == [ReadState(requestID: 2, index: 1)])
    }

    @Test("§6.4 a learner's heartbeat answer does not confirm a read")
    func learnerDoesNotConfirmReads() throws {
        var leader = makeLeader(voters: [1, 2, 3], learners: [4])
        step(&leader, Message(from: 2, to: 1, term: 1, payload: .appendEntriesResponse(.accepted(matchIndex: 1))))
        drain(&leader)
        try leader.readIndex(requestID: 1)
        drain(&leader)
        step(&leader, Message(from: 4, to: 1, term: 1, payload: .heartbeatResponse(readContext: 1)))
        #expect(drain(&leader).readStates.isEmpty)
    }

    @Test("§6.4.1 with lease reads, the leader answers at once, without a heartbeat round")
    func leaseReadsAnswerAtOnce() throws {
        var cluster = TestCluster(voters: 3) { $0.leaseReads = true }
        cluster.elect(1)
        cluster.isolated = [2, 3]
        try cluster.nodes[1]!.readIndex(requestID: 8)
        let ready = cluster.processReady(1)
        #expect(ready.readStates == [ReadState(requestID: 8, index: 1)])
        #expect(!ready.messages.contains { $0.payload.isHeartbeat })
    }

    @Test("a lease runs from when the round a quorum answered was sent, not from CheckQuorum's window")
    func leaseRunsFromRoundSent() throws {
        var cluster = TestCluster(voters: 3) { $0.leaseReads = true }
        cluster.elect(1)
        cluster.heartbeat()
        // Cut off now: the last round a quorum answered was just sent.
        cluster.isolated = [1]
        let duration = 10 - 3  // the election timeout less the default drift margin
        var servedAtOnce: [Int] = []
        for tick in 1...15 {
            cluster.tick(1)
            guard cluster[1].role == .leader else { break }
            try cluster.nodes[1]!.readIndex(requestID: UInt64(tick))
            if cluster.processReady(1).readStates.contains(where: { $0.requestID == UInt64(tick) }) {
                servedAtOnce.append(tick)
            }
        }
        #expect(!servedAtOnce.isEmpty && servedAtOnce.max()! < duration, "served at once on ticks \(servedAtOnce)")
    }

    @Test("a leader that sent TimeoutNow serves no lease read for the rest of its term")
    func transferRevokesLease() throws {
        var cluster = TestCluster(voters: 3) { $0.leaseReads = true }
        cluster.elect(1)
        cluster.heartbeat()
        cluster.isolated = [2]  // the target never campaigns, so 1 stays leader
        try cluster.nodes[1]!.transferLeadership(to: 3)
        cluster.isolated = [3]
        cluster.stabilize()
        #expect(cluster[1].role == .leader && cluster[1].lease.isRevoked)
        try cluster.nodes[1]!.readIndex(requestID: 4)
        #expect(cluster.processReady(1).readStates.isEmpty, "answered from a revoked lease")
    }

    @Test("with lease reads, a node restarted on its data refuses votes for an election timeout")
    func restartedNodeKeepsLeaseItMayHaveGranted() throws {
        var options = testOptions(voters: [1, 2, 3])
        options.leaseReads = true
        options.preVote = false
        let recovered = RecoveredState(hardState: HardState(term: 3, commitIndex: 0))
        var voter = makeNode(2, options: options, recovered: recovered)
        let request = Message(
            from: 3, to: 2, term: 4,
            payload: .requestVote(VoteRequest(lastLogIndex: 0, lastLogTerm: 0, isPreVote: false, isLeadershipTransfer: false)))
        step(&voter, request)
        #expect(voter.term == 3 && drain(&voter).messages.isEmpty && drain(&voter).messagesAfterPersist.isEmpty)
        for _ in 0..<10 { voter.tick() }
        step(&voter, request)
        #expect(voter.term == 4, "after an election timeout the lease it may have granted is over")
    }

    @Test("§6.4 a lone voter answers reads at once")
    func singleVoterAnswersAtOnce() throws {
        var node = makeNode(1, options: testOptions(voters: [1]))
        node.campaign()
        drain(&node)
        try node.readIndex(requestID: 3)
        #expect(drain(&node).readStates == [ReadState(requestID: 3, index: 1)])
    }
}

@Suite("Forwarded reads")
struct ForwardedReadTests {
    @Test("a read forwarded to a leader that never answers fails after an election timeout, not never")
    func unansweredForwardedReadExpires() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        try cluster.nodes[2]!.readIndex(requestID: 7)
        // The leader's answer is lost: drop everything from here on.
        cluster.isolated = [1]
        let forwarding = cluster.nodes[2]!.ready()
        #expect(forwarding.messages.count == 1 && forwarding.messages.allSatisfy(\.payload.isReadIndexRequest))
        cluster.nodes[2]!.acknowledge(readyNumber: forwarding.number)
        var failed = false
        for _ in 0..<(2 * 10 + 2) where !failed {
            cluster.nodes[2]!.tick()
            if cluster.nodes[2]!.hasReady {
                let ready = cluster.nodes[2]!.ready()
                failed = ready.readStates.contains(ReadState(requestID: 7, index: nil))
                cluster.nodes[2]!.acknowledge(readyNumber: ready.number)
            }
        }
        #expect(failed, "the forwarded read was never answered nor failed")
    }

    @Test("a delayed answer to a forwarded read serves no read of the follower's next life, nor one from another node")
    func forwardedReadAnswersMatchTheirRequest() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.heartbeat()
        try cluster.nodes[2]!.readIndex(requestID: 5)
        let before = cluster.nodes[2]!.ready()
        guard case .readIndexRequest(let oldForwardID)? = before.messages.first?.payload else {
            Issue.record("expected a forwarded read, got \(before.messages)")
            return
        }
        // The follower restarts, seeded anew as the server seeds each start, and forwards a read again.
        let recovered = RecoveredState(
            hardState: HardState(term: cluster.nodes[2]!.term, commitIndex: cluster.nodes[2]!.commitIndex),
            entries: cluster.log(of: 2))
        var restarted = makeNode(2, options: testOptions(voters: [1, 2, 3], seed: 77), recovered: recovered)
        step(
            &restarted,
            Message(from: 1, to: 2, term: restarted.term, payload: .heartbeat(commitIndex: 0, readContext: 0)))
        _ = drain(&restarted)
        try restarted.readIndex(requestID: 5)
        let after = restarted.ready()
        guard case .readIndexRequest(let newForwardID)? = after.messages.first?.payload else {
            Issue.record("expected a forwarded read, got \(after.messages)")
            return
        }
        restarted.acknowledge(readyNumber: after.number)
        #expect(newForwardID != oldForwardID)
        // The previous life's answer, carrying a stale index, arrives late; then a forged one from node 3.
        step(
            &restarted,
            Message(
                from: 1, to: 2, term: restarted.term, payload: .readIndexResponse(requestID: oldForwardID, index: 1)))
        step(
            &restarted,
            Message(
                from: 3, to: 2, term: restarted.term, payload: .readIndexResponse(requestID: newForwardID, index: 1)))
        #expect(!restarted.hasReady || restarted.ready().readStates.isEmpty, "no read was answered by either")
    }

    @Test("a forwarded read fails at once when the follower learns of a newer term")
    func forwardedReadFailsOnNewTerm() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        try cluster.nodes[2]!.readIndex(requestID: 9)
        let first = cluster.nodes[2]!.ready()
        cluster.nodes[2]!.acknowledge(readyNumber: first.number)
        let heartbeat = Message(from: 3, to: 2, term: 5, payload: .heartbeat(commitIndex: 0, readContext: 0))
        try cluster.nodes[2]!.step(heartbeat)
        let ready = cluster.nodes[2]!.ready()
        #expect(ready.readStates.contains(ReadState(requestID: 9, index: nil)))
    }
}
