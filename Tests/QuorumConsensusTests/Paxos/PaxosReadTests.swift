import Testing

@testable import QuorumConsensus

@Suite("Multi-Paxos reads")
struct PaxosReadTests {
    @Test("a read waits for a quorum to confirm no newer ballot, then for the chosen prefix")
    func readIndexIsConfirmedByQuorum() throws {
        var cluster = PaxosCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.propose([2])
        try cluster[1].readIndex(requestID: 7)
        #expect(!cluster[1].hasReady || cluster.readStates[1, default: []].isEmpty)
        cluster.stabilize()
        #expect(cluster.readStates[1] == [ReadState(requestID: 7, index: 2)])
    }

    @Test("a leader cut off from its acceptors confirms no read, and fails it when it steps down")
    func isolatedLeaderServesNoRead() throws {
        var cluster = PaxosCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.isolated = [1]
        try cluster[1].readIndex(requestID: 9)
        cluster.stabilize()
        #expect(cluster.readStates[1, default: []].isEmpty)
        for _ in 0..<25 {
            cluster[1].tick()
            cluster.stabilize()
        }
        #expect(cluster[1].role == .follower)
        #expect(cluster.readStates[1] == [ReadState(requestID: 9, index: nil)])
    }

    @Test("a new leader serves reads only once the slots open at its takeover are chosen")
    func newLeaderWaitsForTakeoverSlots() throws {
        var cluster = PaxosCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.dropWhere = { ($0.from == 1 && $0.to == 3) || ($0.from == 2 && $0.to == 1) }
        _ = try cluster[1].propose([2])
        cluster.stabilize()
        cluster.dropWhere = nil
        cluster.isolated = [1]
        for _ in 0..<200 where cluster.leader == nil || cluster.leader == 1 { cluster.tickAll() }
        guard let leader = cluster.leader, leader != 1 else {
            Issue.record("no new leader: \(cluster.ids.map { "\($0) \(cluster[$0].role) \(cluster[$0].promised) commit \(cluster[$0].commitIndex) last \(cluster[$0].lastIndex)" })")
            return
        }
        try cluster[leader].readIndex(requestID: 3)
        cluster.stabilize()
        #expect(cluster.readStates[leader]?.last == ReadState(requestID: 3, index: 2))
    }

    @Test("a follower forwards reads to its leader, one request for all of a Ready's reads")
    func followerForwardsReads() throws {
        var cluster = PaxosCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.heartbeat()
        try cluster[2].readIndex(requestID: 1)
        try cluster[2].readIndex(requestID: 2)
        cluster.stabilize()
        let requests = cluster.delivered.filter {
            if case .readIndexRequest = $0.paxosPayload { true } else { false }
        }
        #expect(requests.count == 1)
        #expect(cluster.readStates[2] == [ReadState(requestID: 1, index: 1), ReadState(requestID: 2, index: 1)])
    }

    @Test("a replica that knows no leader refuses a read at once")
    func noLeaderNoRead() {
        var node = makePaxosNode(1, options: paxosOptions(voters: [1, 2, 3]))
        #expect(throws: ProposalError.notLeader(leaderHint: nil)) { try node.readIndex(requestID: 1) }
    }
}
