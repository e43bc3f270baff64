import Testing

@testable import QuorumConsensus

@Suite("PreVote and CheckQuorum")
struct PreVoteCheckQuorumTests {
    @Test("§9.6 a partitioned node that rejoins neither deposes the leader nor raises the term")
    func rejoiningNodeIsHarmless() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [3]
        cluster.tickAll(times: 60)
        #expect(cluster[3].role == .preCandidate, "it keeps asking, in vain")
        #expect(cluster[3].term == 1)
        cluster.isolated = []
        cluster.tickAll(times: 5)
        #expect(cluster.leader == 1)
        #expect(cluster.ids.allSatisfy { cluster[$0].term == 1 })
        #expect(cluster[3].role == .follower)
        #expect(cluster[3].leaderHint == 1)
    }

    @Test("§9.6 without PreVote, the same rejoining node disrupts the cluster (the scenario has teeth)")
    func withoutPreVoteRejoiningNodeDisrupts() {
        var cluster = TestCluster(voters: 3) { $0.preVote = false }
        cluster.elect(1)
        cluster.isolated = [3]
        cluster.tickAll(times: 60)
        #expect(cluster[3].term > 1)
        cluster.isolated = []
        cluster.tickAll(times: 5)
        #expect(cluster[1].term > 1, "the old leader was deposed by the higher term")
    }

    @Test("§6.2 a leader that cannot hear from a quorum steps down within two election timeouts")
    func leaderWithoutQuorumStepsDown() {
        var cluster = TestCluster(voters: 5)
        cluster.elect(1)
        cluster.isolated = [3, 4, 5]
        cluster.tick(1, times: 20)
        #expect(cluster[1].role == .follower)
        #expect(cluster[1].leaderHint == nil)
        #expect(cluster[1].term == 1)
    }

    @Test("§6.2 a leader that hears from a quorum keeps leading indefinitely")
    func leaderWithQuorumStays() {
        var cluster = TestCluster(voters: 5)
        cluster.elect(1)
        cluster.isolated = [4, 5]
        cluster.tick(1, times: 100)
        #expect(cluster[1].role == .leader)
    }

    @Test("§6.2 without CheckQuorum, an isolated leader keeps believing it leads")
    func withoutCheckQuorumLeaderStays() {
        var cluster = TestCluster(voters: 3) { $0.checkQuorum = false }
        cluster.elect(1)
        cluster.isolated = [2, 3]
        cluster.tick(1, times: 100)
        #expect(cluster[1].role == .leader)
    }

    static func voteRequest(term: Term, preVote: Bool, transfer: Bool) -> Message {
        Message(
            from: 3, to: 2, term: term,
            payload: .requestVote(
                VoteRequest(lastLogIndex: 5, lastLogTerm: 1, isPreVote: preVote, isLeadershipTransfer: transfer)))
    }

    @Test("§4.2.3 within its leader's lease a follower ignores vote requests", arguments: [false, true])
    func votesIgnoredWithinLease(preVote: Bool) {
        var follower = makeNode(2, options: testOptions(voters: [1, 2, 3]))
        step(&follower, Message(from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 0, readContext: 0)))
        drain(&follower)
        for _ in 0..<9 { follower.tick() }
        let before = Observable(follower)
        step(&follower, Self.voteRequest(term: 2, preVote: preVote, transfer: false))
        #expect(Observable(follower) == before, "no term adopted, no vote, no answer")
        #expect(!follower.hasReady)
    }

    @Test("§4.2.3 once the lease has expired, the follower votes")
    func votesGrantedAfterLease() {
        var options = testOptions(voters: [1, 2, 3])
        options.electionTimeoutTicks = 10
        var follower = makeNode(2, options: options)
        step(&follower, Message(from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 0, readContext: 0)))
        drain(&follower)
        // Ten ticks without hearing from the leader; the follower may campaign itself, which is fine.
        for _ in 0..<10 { follower.tick() }
        drain(&follower)
        step(&follower, Self.voteRequest(term: 2, preVote: false, transfer: false))
        #expect(follower.term == 2)
        #expect(follower.votedFor == 3)
    }

    @Test("§3.10 a vote request for a leadership transfer is answered even within the lease")
    func transferVoteBypassesLease() {
        var follower = makeNode(2, options: testOptions(voters: [1, 2, 3]))
        step(&follower, Message(from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 0, readContext: 0)))
        drain(&follower)
        step(&follower, Self.voteRequest(term: 2, preVote: false, transfer: true))
        #expect(follower.term == 2)
        #expect(follower.votedFor == 3)
    }

    @Test("§6.2 a leader ignores a disruptive vote request while it holds its lease")
    func leaderIgnoresDisruptiveVote() {
        var leader = makeLeader(voters: [1, 2, 3]) { $0.checkQuorum = true }
        let before = Observable(leader)
        step(
            &leader,
            Message(
                from: 3, to: 1, term: 7,
                payload: .requestVote(
                    VoteRequest(lastLogIndex: 9, lastLogTerm: 5, isPreVote: false, isLeadershipTransfer: false))))
        #expect(Observable(leader) == before)
    }

    @Test("§9.6 a granted pre-vote from a voter in a newer term does not make the pre-candidate adopt it")
    func preCandidateKeepsItsTerm() {
        var node = makeNode(1, options: testOptions(voters: [1, 2, 3, 4, 5]))
        node.campaign()
        step(&node, Message(from: 2, to: 1, term: 1, payload: .requestVoteResponse(granted: true, isPreVote: true)))
        #expect(node.role == .preCandidate)
        #expect(node.term == 0)
        step(&node, Message(from: 3, to: 1, term: 1, payload: .requestVoteResponse(granted: true, isPreVote: true)))
        #expect(node.role == .candidate)
        #expect(node.term == 1)
    }
}
