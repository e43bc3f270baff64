import Testing

@testable import QuorumConsensus

@Suite("Leadership transfer")
struct TransferTests {
    @Test("§3.10 transfer to an up-to-date follower: TimeoutNow makes it campaign at once and win")
    func transferToUpToDateFollower() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        try cluster.nodes[1]!.transferLeadership(to: 2)
        let ready = cluster.processReady(1)
        #expect(ready.messages.contains { $0.to == 2 && $0.payload.isTimeoutNow })
        cluster.stabilize()
        #expect(cluster[2].role == .leader)
        #expect(cluster[2].term == 2)
        #expect(cluster[1].role == .follower)
        #expect(cluster[1].leaderHint == 2)
        #expect(
            cluster.deliveredMessages(to: 3) {
                if case .requestVote(let request) = $0 { request.isLeadershipTransfer } else { false }
            }.count == 1)
    }

    @Test("§3.10 transfer to a lagging follower catches it up first, then sends TimeoutNow")
    func transferToLaggingFollower() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [3]
        for byte in 1...5 as ClosedRange<UInt8> { cluster.propose([byte]) }
        cluster.isolated = []
        try cluster.nodes[1]!.transferLeadership(to: 3)
        let ready = cluster.processReady(1)
        #expect(!ready.messages.contains { $0.payload.isTimeoutNow }, "not before n3 has the whole log")
        cluster.stabilize()
        #expect(cluster[3].role == .leader)
        #expect(cluster[3].term(at: 6) == 1, "it holds every entry of the old leader")
        let timeoutNow = cluster.delivered.firstIndex { $0.payload.isTimeoutNow }
        let lastCatchUp = cluster.delivered.lastIndex {
            $0.from == 3 && $0.payload == .appendEntriesResponse(.accepted(matchIndex: 6))
        }
        #expect(timeoutNow != nil && lastCatchUp != nil && lastCatchUp! < timeoutNow!)
    }

    @Test("§3.10 proposals and membership changes are refused while a transfer is in progress")
    func proposalsRefusedDuringTransfer() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [2]
        try cluster.nodes[1]!.transferLeadership(to: 2)
        #expect(throws: ProposalError.leadershipTransferInProgress) { try cluster.nodes[1]!.propose([1]) }
        #expect(throws: ProposalError.leadershipTransferInProgress) {
            try cluster.nodes[1]!.proposeConfigurationChange(.remove(3))
        }
    }

    @Test("§3.10 a transfer that does not finish within an election timeout is abandoned")
    func transferAbandonedAfterTimeout() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [2]
        try cluster.nodes[1]!.transferLeadership(to: 2)
        cluster.tick(1, times: 9)
        #expect(throws: ProposalError.leadershipTransferInProgress) { try cluster.nodes[1]!.propose([1]) }
        cluster.tick(1)
        #expect(cluster[1].role == .leader)
        cluster.propose([1])
        #expect(cluster[1].commitIndex == 2)
    }

    @Test("repeated transfers do not postpone CheckQuorum: a leader cut off from every follower still steps down")
    func repeatedTransfersDoNotPostponeCheckQuorum() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [1]
        for round in 0..<30 {
            // Alternate targets too: a change of target restarts the transfer, not CheckQuorum.
            try? cluster.nodes[1]!.transferLeadership(to: round % 6 < 3 ? 2 : 3)
            cluster.tick(1)
            if cluster[1].role != .leader { break }
        }
        #expect(cluster[1].role == .follower, "the leader kept leading with no follower for 30 ticks")
    }

    @Test("§3.10 only a current voter can be the target of a transfer")
    func transferTargetMustBeVoter() throws {
        var cluster = TestCluster(
            nodes: [1, 2, 3, 4].map { (id: NodeID) in
                makeNode(id, options: testOptions(voters: [1, 2, 3], learners: [4], seed: id.rawValue))
            })
        cluster.elect(1)
        #expect(throws: ProposalError.invalidConfigurationChange("n4 is not a voter and cannot lead")) {
            try cluster.nodes[1]!.transferLeadership(to: 4)
        }
        #expect(throws: ProposalError.invalidConfigurationChange("n9 is not a voter and cannot lead")) {
            try cluster.nodes[1]!.transferLeadership(to: 9)
        }
        cluster.propose([1])
    }

    @Test("§3.10 a transfer to the leader itself changes nothing; a follower refuses with a hint")
    func transferToSelfOrFromFollower() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        try cluster.nodes[1]!.transferLeadership(to: 1)
        cluster.propose([1])
        #expect(throws: ProposalError.notLeader(leaderHint: 1)) { try cluster.nodes[2]!.transferLeadership(to: 2) }
    }

    @Test("§3.10 TimeoutNow makes a follower campaign even though it recently heard from its leader")
    func timeoutNowOverridesLease() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.deliver(Message(from: 1, to: 3, term: 1, payload: .timeoutNow))
        cluster.stabilize()
        #expect(cluster[3].role == .leader)
        #expect(cluster[3].term == 2)
    }

    @Test("§3.10 a learner ignores TimeoutNow")
    func learnerIgnoresTimeoutNow() {
        var learner = makeNode(4, options: testOptions(voters: [1, 2, 3], learners: [4]))
        step(&learner, Message(from: 1, to: 4, term: 0, payload: .timeoutNow))
        #expect(learner.role == .follower)
        #expect(learner.term == 0)
    }
}
