import Testing

@testable import QuorumConsensus

/// Holds a value a non-escaping test closure mutates (the harness's drop filter is called many times).
final class Counter {
    var value = 0
}

@Suite("Commitment")
struct CommitTests {
    /// Raft Figure 8, stages (c) and (d). S1 leads term 4 holding 2@2 from its term-2 reign; S5 holds 2@3.
    /// S1 replicates 2@2 to S3, so three of five servers store it, yet it must not count as committed:
    /// S5 can still win an election and overwrite it.
    static func figure8(injectedBug: InjectedBug? = nil) -> TestCluster {
        var options = testOptions(voters: [1, 2, 3, 4, 5])
        options.preVote = false
        options.checkQuorum = false
        options.maxEntriesPerAppend = 1
        options.injectedBug = injectedBug
        func node(_ id: NodeID, _ terms: [UInt64]) -> RaftNode {
            var perNode = options
            perNode.randomSeed = id.rawValue
            return makeNode(
                id, options: perNode,
                recovered: RecoveredState(hardState: HardState(term: 3, commitIndex: 1), entries: entries(terms: terms))
            )
        }
        var cluster = TestCluster(nodes: [
            node(1, [1, 2]), node(2, [1, 2]), node(3, [1]), node(4, [1]), node(5, [1, 3]),
        ])
        cluster.isolated = [4, 5]
        // S3 receives 2@2 but none of S1's term-4 entries: let through only the first append carrying index 3
        // (the probe S3 rejects).
        let appendsOfIndex3 = Counter()
        cluster.dropWhere = { message in
            guard message.to == 3, message.payload.appendedEntries.contains(where: { $0.index == 3 }) else {
                return false
            }
            appendsOfIndex3.value += 1
            return appendsOfIndex3.value > 1
        }
        cluster[1].campaign()
        cluster.stabilize()
        return cluster
    }

    @Test("§5.4.2 a leader never commits an entry of an earlier term by counting replicas (Figure 8)")
    func figure8LeaderDoesNotCommitOldTerm() {
        var cluster = Self.figure8()
        #expect(cluster[1].role == .leader)
        #expect(cluster[1].term == 4)
        #expect([1, 2, 3].allSatisfy { cluster[$0].term(at: 2) == 2 }, "2@2 is stored on a majority")
        #expect(cluster[3].lastIndex == 2)
        #expect(cluster[1].commitIndex == 1, "but it is not committed")

        // Figure 8 (d): S1 crashes; S5 wins with S3's and S4's votes and overwrites index 2 everywhere it can.
        cluster.dropWhere = nil
        cluster.isolated = [1]
        for _ in 0..<3 where cluster[5].role != .leader {
            cluster[5].campaign()
            cluster.stabilize()
        }
        #expect(cluster[5].role == .leader)
        #expect(cluster[3].term(at: 2) == 3, "the entry S1 could have counted as committed was overwritten")
        #expect(cluster[4].term(at: 2) == 3)
    }

    @Test("§5.4.2 the Figure 8 scenario catches a leader that commits old-term entries by counting (injected bug)")
    func figure8CatchesInjectedBug() {
        let cluster = Self.figure8(injectedBug: .commitPreviousTermByCounting)
        #expect(cluster[1].commitIndex == 2)
    }

    @Test("§5.4.2 once an entry of its own term commits, the earlier entries commit with it")
    func currentTermEntryCommitsPredecessors() {
        var options = testOptions(voters: [1, 2, 3])
        options.preVote = false
        var cluster = TestCluster(
            nodes: [1, 2, 3].map { id in
                makeNode(
                    id, options: options,
                    recovered: RecoveredState(
                        hardState: HardState(term: 3), entries: entries(terms: id == 3 ? [1] : [1, 2])))
            })
        cluster.elect(1)
        #expect(cluster[1].commitIndex == 3)
        #expect(cluster.applied[1]?.map(\.index) == [1, 2, 3])
        #expect(cluster.ids.allSatisfy { cluster[$0].commitIndex == 3 })
    }

    @Test("§10.2.1 a leader's own entry counts towards a commit only once it is persisted")
    func leaderCountsItselfOnlyWhenDurable() throws {
        var leader = makeLeader(voters: [1, 2, 3])
        step(&leader, Message(from: 2, to: 1, term: 1, payload: .appendEntriesResponse(.accepted(matchIndex: 1))))
        #expect(leader.commitIndex == 1)
        _ = try leader.propose([5])
        let ready = leader.ready()
        #expect(ready.entries.map(\.index) == [2])
        #expect(ready.messages.contains { $0.to == 2 && $0.payload.appendedEntries.map(\.index) == [2] })
        // n2 persisted and acknowledged entry 2 before the leader's own disk did.
        step(&leader, Message(from: 2, to: 1, term: 1, payload: .appendEntriesResponse(.accepted(matchIndex: 2))))
        #expect(leader.commitIndex == 1, "n2 alone is not a quorum while the leader's copy is not durable")
        leader.acknowledge(readyNumber: ready.number)
        #expect(leader.commitIndex == 2)
        #expect(drain(&leader).committedEntries.map(\.index) == [2])
    }

    @Test("§5.3 a heartbeat carries no commit index beyond what the follower is known to hold")
    func heartbeatCommitIsBoundedByMatch() {
        var cluster = TestCluster(voters: 3)
        cluster.elect(1)
        cluster.isolated = [3]
        cluster.propose([1])
        cluster.propose([2])
        #expect(cluster[1].commitIndex == 3)
        cluster[1].tick()
        let ready = cluster.processReady(1)
        let heartbeats = ready.messages.filter(\.payload.isHeartbeat)
        func commit(to peer: NodeID) -> LogIndex? {
            guard case .heartbeat(let commit, _)? = heartbeats.first(where: { $0.to == peer })?.payload else { return nil }
            return commit
        }
        #expect(commit(to: 2) == 3)
        #expect(commit(to: 3) == 1)
    }

    @Test("§5.3 committed entries are handed out once each, in index order, across many Readies")
    func committedEntriesAreHandedOutOnce() {
        var cluster = TestCluster(voters: 5)
        cluster.elect(3)
        for round in 0..<20 {
            cluster.propose([UInt8(round)])
            if round % 3 == 0 { cluster.heartbeat() }
        }
        cluster.heartbeat()
        for id in cluster.ids {
            #expect(cluster.applied[id]?.map(\.index) == (1...21).map { LogIndex($0) })
        }
    }

    struct CommitCase: CustomTestStringConvertible, Sendable {
        var seed: UInt64
        var testDescription: String { "seed \(seed)" }
    }

    @Test(
        "the leader's commit index matches a sort-and-pick oracle over random match indexes",
        arguments: (1...40 as ClosedRange<UInt64>).map { CommitCase(seed: $0) })
    func commitIndexMatchesOracle(testCase: CommitCase) throws {
        var random = SplitMix64(seed: testCase.seed)
        let voterCount = [1, 3, 4, 5, 7][Int(random.next(upperBound: 5 as UInt64))]
        let learnerCount = Int(random.next(upperBound: 3 as UInt64))
        let voters = Set((1...voterCount).map { NodeID(UInt64($0)) })
        let learners = Set((0..<learnerCount).map { NodeID(UInt64(voterCount + 1 + $0)) })
        var leader = makeLeader(voters: voters, learners: learners)

        // The leader's own durable prefix: some proposals acknowledged, the rest still being written.
        let durable = Int(random.next(upperBound: 8 as UInt64))
        let pending = Int(random.next(upperBound: 8 as UInt64))
        for _ in 0..<durable { _ = try leader.propose([1]) }
        drain(&leader)
        for _ in 0..<pending { _ = try leader.propose([2]) }
        _ = leader.ready()  // not acknowledged
        let selfStable = UInt64(1 + durable)
        let last = UInt64(1 + durable + pending)
        #expect(leader.lastIndex == LogIndex(last))

        var matches: [NodeID: UInt64] = [:]
        var expected: UInt64 = voterCount == 1 ? selfStable : 0
        #expect(leader.commitIndex == LogIndex(expected))
        for _ in 0..<6 {
            for peer in (voters.union(learners)).subtracting([1]).sorted() {
                let match = max(matches[peer] ?? 0, random.next(upperBound: last + 1))
                matches[peer] = match
                step(
                    &leader,
                    Message(
                        from: peer, to: 1, term: 1,
                        payload: .appendEntriesResponse(.accepted(matchIndex: LogIndex(match)))))
            }
            // Oracle: the quorum-th largest durable index among voters only (learners never count).
            let voterMatches = [selfStable] + voters.subtracting([1]).map { matches[$0] ?? 0 }
            let picked = voterMatches.sorted(by: >)[voterCount / 2]
            expected = max(expected, picked)
            #expect(leader.commitIndex == LogIndex(expected), "voters \(voterCount), matches \(matches)")
            leader.checkInvariants()
        }
    }
}
