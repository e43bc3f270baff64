import Testing

@testable import QuorumConsensus

/// Regression tests for defects the unit tests once exposed; each comment says what used to happen.
@Suite("Engine regressions")
struct EngineRegressionTests {
    // MARK: Remote input that reaches a precondition

    @Test("a leader refuses an acknowledgement beyond the end of its log instead of trapping")
    func acknowledgementBeyondLogTraps() async {
        // handleAppendEntriesResponse trusts `matchIndex`: Progress moves nextIndex past the log, and the
        // following sendAppend finds no term at nextIndex - 1 and no snapshot: preconditionFailure
        // "log compacted without a snapshot". With a snapshot it would send that instead, equally wrong.
        await #expect(processExitsWith: .success) {
            var leader = makeLeader(voters: [1, 2, 3])
            _ = try? leader.step(
                Message(from: 2, to: 1, term: 1, payload: .appendEntriesResponse(.accepted(matchIndex: 1000))))
            leader.checkInvariants()
        }
    }

    @Test("a follower refuses an append whose new entries are older than its commit instead of trapping")
    func appendOlderThanCommitTraps() async {
        // handleAppendEntries drops entries at or below the commit index and re-anchors on *our* term at the
        // commit index, but validate() only checked the entries against the message's previousTerm. Entries
        // [1@1, 2@1, 3@1] reach a follower holding [1@1, 2@3] committed through 2: entry 3@1 is appended
        // after 2@3, and RaftLog.append's precondition "terms in the log never decrease" fires.
        await #expect(processExitsWith: .success) {
            var follower = makeNode(
                2, options: testOptions(voters: [1, 2, 3]),
                recovered: RecoveredState(
                    hardState: HardState(term: 3, commitIndex: 2), entries: entries(terms: [1, 3])))
            let append = AppendEntries(
                previousIndex: 0, previousTerm: 0, entries: entries(terms: [1, 1, 1]), leaderCommit: 0)
            _ = try? follower.step(Message(from: 1, to: 2, term: 3, payload: .appendEntries(append)))
            follower.checkInvariants()
        }
    }

    @Test("§5.4 an append that contradicts the committed prefix is refused as a protocol violation")
    func conflictWithCommittedIsNotRefused() {
        // The follower holds [1@1, 2@1] with entry 1 committed. A faulty leader sends [1@2, 2@2]. The engine
        // skips the committed prefix unchecked (handleAppendEntries' "committed prefix already matches"
        // shortcut), so the protocolViolation that RaftLog.appendFromLeader and handleAppendEntries document
        // can never be thrown: the follower silently truncates entry 2 and ends with [1@1, 2@2], a log whose
        // entry 2 matches the sender's by (index, term) while its prefix does not (Log Matching broken).
        var follower = StepValidationTests.follower()
        let before = Observable(follower)
        let faulty = Message(
            from: 1, to: 2, term: 2,
            payload: .appendEntries(
                AppendEntries(previousIndex: 0, previousTerm: 0, entries: entries(terms: [2, 2]), leaderCommit: 0)))
        #expect(throws: StepError.self) { try follower.step(faulty) }
        #expect(Observable(follower) == before)
        #expect(follower.term(at: 2) == 1)
    }

    // MARK: Membership

    @Test("§4.1 a learner added to an idle cluster is caught up without waiting for another proposal")
    func idleLeaderNeverProbesNewcomer() throws {
        // rebuildProgress starts the newcomer at nextIndex = lastIndex + 1, computed after the configuration
        // entry was appended, so the broadcast (sendIfEmpty: false) has nothing to send; the heartbeat response
        // handler also uses sendIfEmpty: false. Nothing reaches n4 until some later entry is proposed.
        var cluster = MembershipTests.clusterWithNewcomer()
        _ = try cluster.nodes[1]!.proposeConfigurationChange(.addLearner(4, promoteWhenCaughtUp: true))
        cluster.stabilize()
        cluster.tick(1, times: 30)
        #expect(cluster[4].lastIndex == cluster[1].lastIndex)
        #expect(cluster[1].configuration.voters.contains(4), "never promoted: it never catches up")
    }

    @Test("§4.1 a node that joined through the log knows the whole configuration")
    func newcomerLearnsOnlyTheChanges() throws {
        // A joining node once started with an empty configuration; as the founding voters are in no log entry,
        // replaying the log from index 1 left it believing the group was {n4}. Newcomers now start with the
        // founding configuration (RaftOptions.initialConfiguration).
        var cluster = MembershipTests.clusterWithNewcomer()
        _ = try cluster.nodes[1]!.proposeConfigurationChange(.addLearner(4, promoteWhenCaughtUp: true))
        cluster.propose([1])
        cluster.heartbeat()
        #expect(cluster[1].configuration == Configuration(voters: [1, 2, 3, 4]))
        #expect(cluster[4].configuration == cluster[1].configuration)
    }

    @Test("§5.2 a promoted newcomer cut off from the cluster cannot elect itself and commit alone")
    func newcomerElectsItselfAlone() throws {
        // With {n4} as its configuration, n4 was a quorum of one: cut off, it elected itself and committed its
        // own no-op while n1 still led the real group.
        var cluster = MembershipTests.clusterWithNewcomer()
        _ = try cluster.nodes[1]!.proposeConfigurationChange(.addLearner(4, promoteWhenCaughtUp: true))
        cluster.propose([1])
        cluster.heartbeat()
        cluster.isolated = [4]
        let committedBefore = cluster[4].commitIndex
        cluster.tick(4, times: 40)
        #expect(cluster[4].role != .leader)
        #expect(cluster[4].commitIndex == committedBefore)
    }
}
