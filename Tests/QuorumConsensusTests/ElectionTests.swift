import Testing

@testable import QuorumConsensus

@Suite("Elections")
struct ElectionTests {
    @Test("§5.1 a follower adopts a higher term and forgets its vote")
    func followerAdoptsHigherTerm() {
        var node = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(hardState: HardState(term: 1, votedFor: 3)))
        step(&node, Message(from: 1, to: 2, term: 3, payload: .heartbeat(commitIndex: 0, readContext: 0)))
        #expect(node.term == 3)
        #expect(node.votedFor == nil)
        #expect(node.leaderHint == 1)
        #expect(node.role == .follower)
        let ready = drain(&node)
        #expect(ready.hardState == HardState(term: 3, votedFor: nil, commitIndex: 0))
        #expect(ready.mustSync)
    }

    @Test("§5.1 a leader that sees a higher term steps down")
    func leaderStepsDownOnHigherTerm() {
        var leader = makeLeader(voters: [1, 2, 3])
        #expect(leader.role == .leader)
        step(&leader, Message(from: 2, to: 1, term: 5, payload: .appendEntriesResponse(.accepted(matchIndex: 0))))
        #expect(leader.role == .follower)
        #expect(leader.term == 5)
        #expect(leader.leaderHint == nil)
        #expect(leader.replicationStatus.isEmpty)
    }

    @Test("§5.1 an append from a stale term is refused and answered with the current term")
    func staleAppendIsRefused() {
        var node = makeNode(
            2, options: testOptions(voters: [1, 2, 3]), recovered: RecoveredState(hardState: HardState(term: 4)))
        let append = AppendEntries(previousIndex: 0, previousTerm: 0, entries: entries(terms: [2]), leaderCommit: 1)
        step(&node, Message(from: 1, to: 2, term: 2, payload: .appendEntries(append)))
        #expect(node.lastIndex == 0)
        #expect(node.term == 4)
        #expect(node.leaderHint == nil)
        let ready = drain(&node)
        #expect(ready.messages.isEmpty)
        #expect(
            ready.messagesAfterPersist == [
                Message(from: 2, to: 1, term: 4, payload: .appendEntriesResponse(.accepted(matchIndex: 0)))
            ])
    }

    @Test("§5.2 a follower campaigns after a randomized timeout in [T, 2T)", arguments: 1...12 as ClosedRange<UInt64>)
    func electionTimeoutIsRandomized(seed: UInt64) {
        var node = makeNode(1, options: testOptions(voters: [1, 2, 3], seed: seed))
        var ticks = 0
        while node.role == .follower && ticks < 100 {
            node.tick()
            ticks += 1
        }
        #expect(node.role == .preCandidate)
        #expect((10..<20).contains(ticks), "campaigned after \(ticks) ticks")
    }

    @Test("§5.2 election timeouts differ between seeds, so split votes resolve")
    func electionTimeoutsDiffer() {
        var timeouts: Set<Int> = []
        for seed in 1...12 as ClosedRange<UInt64> {
            let node = makeNode(1, options: testOptions(voters: [1, 2, 3], seed: seed))
            timeouts.insert(node.randomizedElectionTimeout)
        }
        #expect(timeouts.count > 2)
    }

    @Test("§5.2 a candidate with a majority becomes leader and appends a no-op of its term")
    func candidateWinsWithMajority() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        #expect(cluster[1].role == .leader)
        #expect(cluster[1].term == 1)
        #expect(cluster[2].leaderHint == 1 && cluster[3].leaderHint == 1)
        #expect(cluster[2].role == .follower && cluster[3].role == .follower)
        let log = cluster.log(of: 1)
        #expect(log == [Entry(term: 1, index: 1, kind: .noop)])
        #expect(cluster.ids.allSatisfy { cluster[$0].commitIndex == 1 })
        #expect(cluster.applied[2] == log)
    }

    @Test("§5.2 a candidate refused by a majority returns to follower")
    func candidateLosesElection() {
        var options = testOptions(voters: [1, 2, 3])
        options.preVote = false
        var node = makeNode(1, options: options)
        node.campaign()
        #expect(node.role == .candidate)
        step(&node, Message(from: 2, to: 1, term: 1, payload: .requestVoteResponse(granted: false, isPreVote: false)))
        #expect(node.role == .candidate, "one refusal of three is not yet decisive")
        step(&node, Message(from: 3, to: 1, term: 1, payload: .requestVoteResponse(granted: false, isPreVote: false)))
        #expect(node.role == .follower)
        #expect(node.term == 1)
    }

    @Test("§5.2 a vote from the same voter counts once")
    func duplicateVotesCountOnce() {
        var options = testOptions(voters: [1, 2, 3, 4, 5])
        options.preVote = false
        var node = makeNode(1, options: options)
        node.campaign()
        for _ in 0..<3 {
            step(
                &node, Message(from: 2, to: 1, term: 1, payload: .requestVoteResponse(granted: true, isPreVote: false)))
        }
        #expect(node.role == .candidate)
        step(&node, Message(from: 3, to: 1, term: 1, payload: .requestVoteResponse(granted: true, isPreVote: false)))
        #expect(node.role == .leader)
    }

    @Test("§5.2 a vote from a node outside the configuration is not counted")
    func strangerVotesDoNotCount() {
        var options = testOptions(voters: [1, 2, 3])
        options.preVote = false
        var node = makeNode(1, options: options)
        node.campaign()
        step(&node, Message(from: 9, to: 1, term: 1, payload: .requestVoteResponse(granted: true, isPreVote: false)))
        #expect(node.role == .candidate)
    }

    @Test("§5.2 a candidate that hears from a leader of its term becomes its follower")
    func candidateYieldsToLeaderOfSameTerm() {
        var options = testOptions(voters: [1, 2, 3])
        options.preVote = false
        var node = makeNode(1, options: options)
        node.campaign()
        step(&node, Message(from: 2, to: 1, term: 1, payload: .heartbeat(commitIndex: 0, readContext: 0)))
        #expect(node.role == .follower)
        #expect(node.leaderHint == 2)
        #expect(node.term == 1)
    }

    @Test("§5.2 a lone voter elects itself and commits its no-op once it is persisted")
    func singleNodeElectsItself() {
        var node = makeNode(1, options: testOptions(voters: [1]))
        node.campaign()
        #expect(node.role == .leader)
        let first = node.ready()
        #expect(first.entries == [Entry(term: 1, index: 1, kind: .noop)])
        #expect(first.hardState?.votedFor == 1)
        #expect(node.commitIndex == 0, "the leader's own entry counts only once persisted")
        node.acknowledge(readyNumber: first.number)
        #expect(node.commitIndex == 1)
        let second = drain(&node)
        #expect(second.committedEntries == first.entries)
    }

    @Test("§5.2 a learner never campaigns, however long it waits")
    func learnerNeverCampaigns() {
        var node = makeNode(4, options: testOptions(voters: [1, 2, 3], learners: [4]))
        for _ in 0..<100 { node.tick() }
        node.campaign()
        #expect(node.role == .follower)
        #expect(node.term == 0)
        #expect(!node.hasReady)
    }

    @Test("§5.2 campaign() on a leader changes nothing")
    func leaderIgnoresCampaign() {
        var leader = makeLeader(voters: [1, 2, 3])
        let before = Observable(leader)
        leader.campaign()
        #expect(Observable(leader) == before)
    }

    @Test("§3.8 a vote leaves only after the Ready that records it is persisted; a pre-vote leaves at once")
    func votesWaitForPersistence() {
        var options = testOptions(voters: [1, 2, 3])
        options.preVote = false
        var voter = makeNode(2, options: options)
        let request = VoteRequest(lastLogIndex: 0, lastLogTerm: 0, isPreVote: false, isLeadershipTransfer: false)
        step(&voter, Message(from: 1, to: 2, term: 1, payload: .requestVote(request)))
        let ready = voter.ready()
        #expect(ready.hardState == HardState(term: 1, votedFor: 1, commitIndex: 0))
        #expect(ready.mustSync)
        #expect(ready.messages.isEmpty)
        #expect(
            ready.messagesAfterPersist == [
                Message(from: 2, to: 1, term: 1, payload: .requestVoteResponse(granted: true, isPreVote: false))
            ])
        voter.acknowledge(readyNumber: ready.number)

        var other = makeNode(3, options: testOptions(voters: [1, 2, 3]))
        var preVote = request
        preVote.isPreVote = true
        step(&other, Message(from: 1, to: 3, term: 1, payload: .requestVote(preVote)))
        let preReady = other.ready()
        #expect(preReady.hardState == nil)
        #expect(
            preReady.messages == [
                Message(from: 3, to: 1, term: 1, payload: .requestVoteResponse(granted: true, isPreVote: true))
            ])
    }

    @Test("§5.2 with PreVote, a campaign asks first in the next term without raising its own")
    func preVoteDoesNotRaiseTerm() {
        var node = makeNode(1, options: testOptions(voters: [1, 2, 3]))
        node.campaign()
        #expect(node.role == .preCandidate)
        #expect(node.term == 0)
        let ready = drain(&node)
        #expect(ready.hardState == nil)
        #expect(ready.messages.count == 2)
        #expect(ready.messages.allSatisfy { $0.term == 1 && $0.payload.isPreVoteRequest })
        // One granted pre-vote makes a majority; only then does the real election raise the term.
        step(&node, Message(from: 2, to: 1, term: 1, payload: .requestVoteResponse(granted: true, isPreVote: true)))
        #expect(node.role == .candidate)
        #expect(node.term == 1)
        #expect(node.votedFor == 1)
    }

    @Test("§9.6 a pre-candidate refused by a majority returns to follower at the same term")
    func preCandidateLoses() {
        var node = makeNode(1, options: testOptions(voters: [1, 2, 3]))
        node.campaign()
        step(&node, Message(from: 2, to: 1, term: 0, payload: .requestVoteResponse(granted: false, isPreVote: true)))
        step(&node, Message(from: 3, to: 1, term: 0, payload: .requestVoteResponse(granted: false, isPreVote: true)))
        #expect(node.role == .follower)
        #expect(node.term == 0)
    }

    @Test("§5.2 a cluster whose leader fails elects another leader in a higher term")
    func reelectionAfterLeaderFailure() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([7])
        cluster.isolated = [1]
        cluster.tickAll(times: 40)
        let newLeader = cluster.ids.filter { $0 != 1 && cluster[$0].role == .leader }
        #expect(newLeader.count == 1)
        if let leader = newLeader.first {
            #expect(cluster[leader].term > 1)
            #expect(cluster[leader].log.term(at: 2) == 1, "the committed command survives (§5.4)")
        }
        #expect(cluster[1].role != .leader, "the isolated leader stepped down (check quorum)")
        #expect(cluster[1].term == 1, "with PreVote, its own failed campaigns never raised its term")
    }
}
