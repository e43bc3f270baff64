import Testing

@testable import QuorumConsensus

@Suite("Log replication")
struct ReplicationTests {
    @Test("§5.3 proposals reach every follower's log and state machine in the same order")
    func proposalsReplicate() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        for byte in 1...5 as ClosedRange<UInt8> { cluster.propose([byte]) }
        cluster.heartbeat()
        let leaderLog = cluster.log(of: 1)
        #expect(leaderLog.count == 6)
        for id in cluster.ids {
            #expect(cluster.log(of: id) == leaderLog)
            #expect(cluster[id].commitIndex == 6)
            #expect(cluster.applied[id] == leaderLog, "\(id) applied exactly the log, once, in order")
        }
    }

    @Test("§5.3 a proposal to a follower is refused with a hint naming the leader")
    func followerRefusesProposals() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        #expect(throws: ProposalError.notLeader(leaderHint: 1)) { try cluster.nodes[2]!.propose([1]) }
        var lonely = makeNode(1, options: testOptions(voters: [1, 2, 3]))
        #expect(throws: ProposalError.notLeader(leaderHint: nil)) { try lonely.propose([1]) }
    }

    @Test("§5.3 a proposal's ticket names the index and term at which it will be applied")
    func proposalTicket() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        let proposed = cluster.propose([42])
        let ticket = try #require(proposed)
        #expect(ticket == ProposalTicket(index: 2, term: 1))
        #expect(cluster.applied[1]?.last == Entry(term: 1, index: 2, kind: .command([42])))
    }

    @Test("§5.3 a follower refuses an append whose previous entry does not match, changing nothing")
    func logMatchingRefusesMismatch() {
        var follower = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(hardState: HardState(term: 2), entries: entries(terms: [1, 1])))
        let append = AppendEntries(
            previousIndex: 2, previousTerm: 2, entries: entries(terms: [2], from: 3), leaderCommit: 0)
        step(&follower, Message(from: 1, to: 2, term: 2, payload: .appendEntries(append)))
        #expect(follower.lastIndex == 2)
        let ready = drain(&follower)
        #expect(ready.entries.isEmpty)
        #expect(
            ready.messagesAfterPersist == [
                Message(
                    from: 2, to: 1, term: 2,
                    payload: .appendEntriesResponse(.rejected(rejectedIndex: 2, hintIndex: 2, hintTerm: 1)))
            ])
    }

    @Test("§5.3 a follower truncates a conflicting suffix and takes the leader's entries")
    func conflictingSuffixIsTruncated() {
        var follower = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(
                hardState: HardState(term: 3, commitIndex: 1), entries: entries(terms: [1, 2, 2, 2])))
        let incoming = [Entry(term: 3, index: 3, kind: .command([9]))]
        let append = AppendEntries(previousIndex: 2, previousTerm: 2, entries: incoming, leaderCommit: 3)
        step(&follower, Message(from: 1, to: 2, term: 3, payload: .appendEntries(append)))
        #expect(follower.lastIndex == 3)
        #expect(follower.term(at: 3) == 3)
        #expect(follower.term(at: 4) == nil)
        #expect(follower.commitIndex == 3)
        let ready = drain(&follower)
        #expect(ready.entries == incoming, "only the replacement is persisted, overwriting from index 3")
        #expect(ready.committedEntries.map(\.index) == [1, 2], "entry 3 is committed but not yet durable here")
        #expect(ready.messagesAfterPersist.last?.payload == .appendEntriesResponse(.accepted(matchIndex: 3)))
    }

    @Test("§5.3 a duplicated or reordered append never truncates entries it does not conflict with")
    func staleAppendDoesNotTruncate() {
        var follower = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(hardState: HardState(term: 1), entries: entries(terms: [1, 1, 1, 1])))
        // An older append carrying only entry 2 arrives late.
        let late = AppendEntries(
            previousIndex: 1, previousTerm: 1, entries: entries(terms: [1], from: 2), leaderCommit: 0)
        step(&follower, Message(from: 1, to: 2, term: 1, payload: .appendEntries(late)))
        #expect(follower.lastIndex == 4)
        let ready = drain(&follower)
        #expect(ready.entries.isEmpty)
        #expect(ready.messagesAfterPersist.last?.payload == .appendEntriesResponse(.accepted(matchIndex: 2)))
    }

    @Test("§5.3 a follower commits no further than the last entry the leader's append vouched for")
    func followerCommitBoundedByAppend() {
        var follower = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(hardState: HardState(term: 2), entries: entries(terms: [1, 1, 1, 1])))
        // The leader commits through 4 but has only checked our log through 2: entries 3 and 4 may be stale.
        let append = AppendEntries(
            previousIndex: 1, previousTerm: 1, entries: entries(terms: [1], from: 2), leaderCommit: 4)
        step(&follower, Message(from: 1, to: 2, term: 2, payload: .appendEntries(append)))
        #expect(follower.commitIndex == 2)
    }

    @Test("§5.3 a follower applies committed entries only after they are persisted")
    func followerAppliesOnlyPersisted() {
        var follower = makeNode(2, options: testOptions(voters: [1, 2, 3]))
        let append = AppendEntries(previousIndex: 0, previousTerm: 0, entries: entries(terms: [1, 1]), leaderCommit: 2)
        step(&follower, Message(from: 1, to: 2, term: 1, payload: .appendEntries(append)))
        #expect(follower.commitIndex == 2)
        let first = follower.ready()
        #expect(first.entries.count == 2)
        #expect(first.committedEntries.isEmpty, "not durable yet")
        follower.acknowledge(readyNumber: first.number)
        let second = drain(&follower)
        #expect(second.committedEntries.map(\.index) == [1, 2])
    }

    @Test("§5.3 fast backtracking skips a whole divergent term per round trip, not one index")
    func fastBacktracking() {
        // n1 will lead at term 4; n2 holds a long uncommitted suffix from term 2 that n1 does not have.
        let leaderLog = entries(terms: [1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3])
        let divergent = entries(terms: [1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
        var options = testOptions(voters: [1, 2, 3])
        options.preVote = false
        var cluster = TestCluster(nodes: [
            makeNode(1, options: options, recovered: RecoveredState(hardState: HardState(term: 3), entries: leaderLog)),
            makeNode(2, options: options, recovered: RecoveredState(hardState: HardState(term: 3), entries: divergent)),
            makeNode(3, options: options, recovered: RecoveredState(hardState: HardState(term: 3), entries: leaderLog)),
        ])
        cluster.elect(1)
        let rejections = cluster.deliveredMessages(from: 2, to: 1) { $0.isRejection }
        #expect(!rejections.isEmpty)
        #expect(rejections.count <= 2, "one-per-index backtracking would need 9 rejections")
        #expect(cluster.log(of: 2) == cluster.log(of: 1))
        #expect(cluster[2].lastIndex == 13)
        #expect(cluster[2].term(at: 4) == 3)
    }

    @Test("§5.3 a follower missing many entries catches up in one probe")
    func shortFollowerCatchesUpQuickly() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [3]
        for byte in 1...30 as ClosedRange<UInt8> { cluster.propose([byte]) }
        cluster.isolated = []
        cluster.delivered.removeAll()
        // The appends n3 missed count as in flight until the leader's stall detector re-probes it.
        cluster.tick(1, times: 12)
        #expect(cluster.log(of: 3) == cluster.log(of: 1))
        #expect(cluster.deliveredMessages(from: 3, to: 1) { $0.isRejection }.count <= 1)
    }

    @Test("a burst of proposals between two Readies leaves as one append per follower")
    func proposalsAreBatched() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        for byte in 1...10 as ClosedRange<UInt8> { _ = try cluster.nodes[1]!.propose([byte]) }
        let ready = cluster.processReady(1)
        #expect(ready.entries.count == 10)
        let appends = ready.messages.filter(\.payload.isAppend)
        #expect(appends.count == 2)
        #expect(appends.allSatisfy { $0.payload.appendedEntries.count == 10 })
    }

    @Test("an append carries at most maxEntriesPerAppend entries and about maxBytesPerAppend bytes")
    func appendSizeIsCapped() throws {
        var cluster = TestCluster(voters: 3) { $0.maxEntriesPerAppend = 4 }
        cluster.elect(1)
        for byte in 1...10 as ClosedRange<UInt8> { _ = try cluster.nodes[1]!.propose([byte]) }
        let ready = cluster.processReady(1)
        let appends = ready.messages.filter(\.payload.isAppend)
        #expect(appends.map(\.payload.appendedEntries.count) == [4, 4])

        var bytesCluster = TestCluster(voters: 3) { $0.maxBytesPerAppend = 100 }
        bytesCluster.elect(1)
        for _ in 1...10 { _ = try bytesCluster.nodes[1]!.propose([UInt8](repeating: 7, count: 26)) }  // 50 bytes each
        let bytesReady = bytesCluster.processReady(1)
        #expect(bytesReady.messages.filter(\.payload.isAppend).map(\.payload.appendedEntries.count) == [2, 2])
        // A single entry larger than the cap still goes, alone.
        _ = try bytesCluster.nodes[1]!.propose([UInt8](repeating: 7, count: 500))
        bytesCluster.stabilize()
        #expect(bytesCluster.log(of: 2) == bytesCluster.log(of: 1))
    }

    @Test("flow control: a follower that does not answer gets at most maxInflightAppends appends")
    func inflightAppendsAreCapped() throws {
        var cluster = TestCluster(voters: 3) { $0.maxInflightAppends = 3 }
        cluster.elect(1)
        #expect(cluster[1].replicationStatus[3]?.state == "replicate")
        cluster.isolated = [3]
        for byte in 1...6 as ClosedRange<UInt8> {
            _ = try cluster.nodes[1]!.propose([byte])
            cluster.stabilize()
        }
        let sentTo3 = cluster.dropped.filter { $0.to == 3 && $0.payload.isAppend }
        #expect(sentTo3.count == 3)
        #expect(cluster[1].replicationStatus[3]?.inflightAppends == 3)
        #expect(cluster[1].commitIndex == 7, "the other follower keeps the cluster committing")
    }

    @Test("flow control: an acknowledgement frees room and the follower catches up")
    func inflightWindowReopens() throws {
        var cluster = TestCluster(voters: 3) { $0.maxInflightAppends = 2 }
        cluster.elect(1)
        // Hold back n3's answers so its window fills.
        cluster.dropWhere = { $0.from == 3 && $0.payload.isAppendResponse }
        for byte in 1...5 as ClosedRange<UInt8> {
            _ = try cluster.nodes[1]!.propose([byte])
            cluster.stabilize()
        }
        #expect(cluster[3].lastIndex == 3, "n3 received two appends, then the leader paused")
        cluster.dropWhere = nil
        let heldBack = cluster.dropped.filter { $0.from == 3 }
        #expect(heldBack.count == 2)
        cluster.deliver(heldBack[0])
        cluster.stabilize()
        #expect(cluster.log(of: 3) == cluster.log(of: 1))
    }

    @Test("§5.3 a follower whose appends were all lost is probed afresh after a stall")
    func stalledFollowerIsReprobed() throws {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.dropWhere = { $0.to == 3 && $0.payload.isAppend }
        _ = try cluster.nodes[1]!.propose([1])
        cluster.stabilize()
        #expect(cluster[3].lastIndex == 1)
        cluster.dropWhere = nil
        // No further proposals: only the stall detector can resend.
        for _ in 0..<12 { cluster.tick(1) }
        #expect(cluster[3].lastIndex == 2)
    }
}
