import Testing

@testable import QuorumConsensus

/// α in these tests: a change at slot s governs the slots from s + 4 on.
private let alpha = 4

private func membershipCluster(voters: Int, configure: (inout PaxosOptions) -> Void = { _ in }) -> PaxosCluster {
    PaxosCluster(voters: voters) {
        $0.configurationDelaySlots = alpha
        configure(&$0)
    }
}

extension PaxosCluster {
    /// Starts `id`, a node that knows only the founding configuration, with the founders' options.
    mutating func addNewcomer(_ id: NodeID) {
        var options = options[1]!
        options.randomSeed = id.rawValue
        self.options[id] = options
        nodes[id] = makePaxosNode(id, options: options)
        disks[id] = PaxosDisk()
    }

    /// Proposes `change` on the leader and lets the cluster run.
    @discardableResult
    mutating func proposeChange(_ change: ConfigurationChange) throws -> ProposalTicket {
        let ticket = try nodes[leader!]!.proposeConfigurationChange(change)
        stabilize()
        return ticket
    }

    /// Heartbeats enough times for a leader to resend what an acceptor missed while cut off.
    mutating func heartbeats(_ count: Int = 6) {
        for _ in 0..<count { heartbeat() }
    }

    /// Proposes a command on `id` and lets the cluster run, whether or not it is chosen.
    mutating func proposeAndRun(_ command: [UInt8], on id: NodeID) throws -> ProposalTicket {
        let ticket = try nodes[id]!.propose(command)
        stabilize()
        return ticket
    }
}

@Suite("Multi-Paxos membership")
struct PaxosMembershipTests {
    @Test("a change chosen at slot s governs the slots from s + α on; the leader fills the window with no-ops")
    func changeTakesEffectAlphaSlotsLater() throws {
        var cluster = membershipCluster(voters: 3)
        cluster.addNewcomer(4)
        cluster.elect(1)
        cluster.propose([1])
        let ticket = try cluster.proposeChange(.addLearner(4, promoteWhenCaughtUp: false))
        #expect(ticket.index == 2)
        let lastUnderFounders = ticket.index.advanced(by: alpha - 1)
        #expect(cluster[1].commitIndex == lastUnderFounders, "no-ops up to s + α − 1, all chosen")
        for slot in ticket.index.rawValue + 1...lastUnderFounders.rawValue {
            #expect(cluster[1].value(at: LogIndex(slot))?.kind == .noop)
        }
        let founders = Configuration(voters: [1, 2, 3])
        let withLearner = Configuration(voters: [1, 2, 3], learners: [4])
        #expect(cluster[1].configuration(at: lastUnderFounders) == founders)
        #expect(cluster[1].configuration(at: lastUnderFounders.advanced(by: 1)) == withLearner)
        for id: NodeID in [1, 2, 3] {
            #expect(cluster[id].configuration == withLearner, "\(id)")
        }
        #expect(cluster[1].committedConfiguration.index == ticket.index)
        #expect(cluster[1].committedConfiguration.configuration == withLearner)
        // The learner receives the slots, from the first.
        cluster.propose([2])
        cluster.heartbeat()
        #expect(cluster.appliedCommands(4) == [[1], [2]])
        #expect(cluster[4].configuration == withLearner)
    }

    @Test("a second change is refused while the first is in flight, and accepted once it is in force")
    func secondChangeIsRefusedInFlight() throws {
        var cluster = membershipCluster(voters: 3)
        cluster.addNewcomer(4)
        cluster.elect(1)
        cluster.isolated = [2, 3]
        _ = try cluster[1].proposeConfigurationChange(.addLearner(4, promoteWhenCaughtUp: false))
        cluster.stabilize()
        #expect(throws: ProposalError.configurationChangePending) {
            try cluster.nodes[1]!.proposeConfigurationChange(.remove(3))
        }
        cluster.isolated = []
        cluster.heartbeats()
        #expect(throws: ProposalError.invalidConfigurationChange("n5 is not a member")) {
            try cluster.nodes[1]!.proposeConfigurationChange(.remove(5))
        }
        #expect(throws: ProposalError.notLeader(leaderHint: 1)) {
            try cluster.nodes[2]!.proposeConfigurationChange(.remove(3))
        }
        #expect(cluster[1].commitIndex == LogIndex(UInt64(alpha)))
        try cluster.proposeChange(.remove(3))
        #expect(cluster[1].configuration == Configuration(voters: [1, 2], learners: [4]))
    }

    @Test("a learner receives every slot but counts towards no quorum")
    func learnerCountsTowardsNoQuorum() throws {
        var cluster = membershipCluster(voters: 3)
        cluster.addNewcomer(4)
        cluster.elect(1)
        try cluster.proposeChange(.addLearner(4, promoteWhenCaughtUp: false))
        let chosen = cluster[1].commitIndex
        cluster.isolated = [2, 3]
        let ticket = try cluster[1].propose([5])
        cluster.stabilize()
        cluster.heartbeat()
        #expect(cluster[4].value(at: ticket.index) == Entry(term: ticket.term, index: ticket.index, kind: .command([5])))
        #expect(cluster[1].commitIndex == chosen, "the leader and a learner are no majority of three voters")
        cluster.isolated = [3]
        cluster.heartbeats()
        #expect(cluster[1].commitIndex == ticket.index)
    }

    @Test("a learner added to vote is promoted once caught up, and the quorum grows with it")
    func learnerIsPromotedAndQuorumGrows() throws {
        var cluster = membershipCluster(voters: 3)
        cluster.addNewcomer(4)
        cluster.elect(1)
        for value: UInt8 in 1...3 { cluster.propose([value]) }
        let added = try cluster.proposeChange(.addLearner(4, promoteWhenCaughtUp: true))
        cluster.heartbeats()
        let allFour = Configuration(voters: [1, 2, 3, 4])
        #expect(cluster[1].configuration == allFour)
        let promotion = cluster[1].committedConfiguration
        #expect(promotion.configuration == allFour)
        #expect(promotion.index > added.index.advanced(by: alpha - 1), "promoted only after the addition took effect")
        #expect(cluster[1].value(at: promotion.index)?.kind == .configurationChange(.promote(4)))
        #expect(cluster.appliedCommands(4) == [[1], [2], [3]])
        // Three of four now: the leader with one other voter chooses nothing, with two it does.
        let chosen = cluster[1].commitIndex
        cluster.isolated = [3, 4]
        let ticket = try cluster.proposeAndRun([9], on: 1)
        cluster.heartbeat()
        #expect(cluster[1].commitIndex == chosen)
        cluster.isolated = [3]
        cluster.heartbeats()
        #expect(cluster[1].commitIndex == ticket.index)
    }

    @Test("removing a voter shrinks the quorum once the removal is in force, and the removed node gets nothing more")
    func removalShrinksQuorum() throws {
        var cluster = membershipCluster(voters: 4)
        cluster.elect(1)
        try cluster.proposeChange(.remove(4))
        let removal = cluster[1].committedConfiguration
        #expect(removal.configuration == Configuration(voters: [1, 2, 3]))
        #expect(cluster[1].commitIndex == removal.index.advanced(by: alpha - 1))
        let sentTo4 = cluster.delivered.filter { $0.to == 4 }.count
        cluster.isolated = [3]
        let ticket = try cluster.proposeAndRun([7], on: 1)
        cluster.heartbeat()
        #expect(cluster[1].commitIndex == ticket.index, "two of three voters suffice")
        #expect(cluster.delivered.filter { $0.to == 4 }.count == sentTo4)
        #expect(cluster[1].replicationStatus[4] == nil)
    }

    @Test("the slots a removal leaves under the old configuration still need its majority")
    func slotsBeforeRemovalNeedOldMajority() throws {
        var cluster = membershipCluster(voters: 4)
        cluster.elect(1)
        // n3 and n4 hear nothing: the removal and its no-ops are accepted by n1 and n2 only, half of four voters.
        cluster.isolated = [3, 4]
        let removal = try cluster[1].proposeConfigurationChange(.remove(4))
        cluster.stabilize()
        cluster.heartbeat()
        #expect(cluster[1].commitIndex < removal.index)
        cluster.isolated = [4]
        cluster.heartbeats()
        #expect(cluster[1].commitIndex == removal.index.advanced(by: alpha - 1))
    }

    @Test("a leader that removes itself refuses proposals, hands over once the removal is in force, and stays out")
    func leaderRemovesItself() throws {
        var cluster = membershipCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        let removal = try cluster[1].proposeConfigurationChange(.remove(1))
        #expect(throws: ProposalError.leadershipTransferInProgress) { try cluster.nodes[1]!.propose([2]) }
        cluster.stabilize()
        #expect(cluster[1].role == .follower)
        #expect(cluster.delivered.contains { $0.from == 1 && $0.paxosPayload == .timeoutNow })
        let successor = try #require(cluster.leader)
        #expect([2, 3].contains(successor))
        #expect(cluster[successor].configuration == Configuration(voters: [2, 3]))
        #expect(cluster[successor].commitIndex >= removal.index.advanced(by: alpha - 1))
        cluster.propose([3])
        cluster.heartbeat()
        #expect(cluster.appliedCommands(successor) == [[1], [3]])
        let round = cluster[1].term
        cluster.isolated = [successor]
        for _ in 0..<40 { cluster[1].tick() }
        cluster.stabilize()
        #expect(cluster[1].term == round, "a node removed from the group never campaigns")
    }

    @Test("a restarted node rebuilds a change still in flight from its log; a re-elected leader finishes it")
    func restartMidChange() throws {
        var cluster = membershipCluster(voters: 3) { $0.checkQuorum = false }
        cluster.addNewcomer(4)
        cluster.elect(1)
        cluster.propose([1])
        cluster.isolated = [2, 3]
        let change = try cluster[1].proposeConfigurationChange(.addLearner(4, promoteWhenCaughtUp: false))
        cluster.stabilize()
        cluster.restart(1)
        let withLearner = Configuration(voters: [1, 2, 3], learners: [4])
        #expect(cluster[1].configuration == withLearner, "the accepted change survives the restart")
        #expect(cluster[1].committedConfiguration.configuration == Configuration(voters: [1, 2, 3]))
        cluster.isolated = []
        cluster.elect(1)
        #expect(cluster[1].value(at: change.index)?.kind == .configurationChange(.addLearner(4, promoteWhenCaughtUp: false)))
        #expect(cluster[1].commitIndex >= change.index.advanced(by: alpha - 1))
        #expect(cluster[1].committedConfiguration == (change.index, withLearner))
        for id: NodeID in [2, 3] {
            cluster.restart(id)
            #expect(cluster[id].committedConfiguration.configuration == withLearner, "\(id)")
        }
    }

    @Test("snapshots wait until a change governs every later slot, and carry it through a restart")
    func snapshotCarriesConfiguration() throws {
        var cluster = membershipCluster(voters: 3) {
            $0.snapshotIntervalEntries = 1
            $0.entriesRetainedAfterSnapshot = 0
        }
        cluster.addNewcomer(4)
        cluster.elect(1)
        cluster.propose([1])
        let change = try cluster.proposeChange(.addLearner(4, promoteWhenCaughtUp: false))
        cluster.propose([2])
        cluster.heartbeat()
        let snapshot = try #require(cluster.disks[2]!.state.snapshot)
        #expect(snapshot.lastIncludedIndex >= change.index.advanced(by: alpha - 1))
        let withLearner = Configuration(voters: [1, 2, 3], learners: [4])
        #expect(snapshot.configuration == withLearner)
        cluster.restart(2)
        #expect(cluster[2].configuration == withLearner)
        #expect(cluster[2].configuration(at: cluster[2].commitIndex.advanced(by: 1)) == withLearner)
    }

    @Test("a new leader that does not know a chosen change recovers it in phase 1 and finishes it")
    func takeoverMidChange() throws {
        var cluster = membershipCluster(voters: 3) { $0.checkQuorum = false }
        cluster.addNewcomer(4)
        cluster.elect(1)
        cluster.propose([1])
        // The change is accepted by n1 and n2, so chosen, but n3 hears nothing and n1 learns nothing back.
        cluster.dropWhere = { $0.to == 3 || ($0.from == 2 && $0.to == 1) }
        let change = try cluster[1].proposeConfigurationChange(.addLearner(4, promoteWhenCaughtUp: false))
        cluster.stabilize()
        #expect(cluster[3].lastIndex < change.index)
        // n3 takes over with n2's promise; n2's acceptances of n3's ballot are lost for now.
        cluster.isolated = [1]
        cluster.dropWhere = { $0.isAccepted }
        cluster[3].campaign()
        cluster.stabilize()
        #expect(cluster.leader == 3)
        #expect(cluster[3].value(at: change.index)?.kind == .configurationChange(.addLearner(4, promoteWhenCaughtUp: false)))
        #expect(throws: ProposalError.configurationChangePending) {
            try cluster.nodes[3]!.proposeConfigurationChange(.remove(2))
        }
        cluster.dropWhere = nil
        cluster.heartbeats()
        let withLearner = Configuration(voters: [1, 2, 3], learners: [4])
        #expect(cluster[3].committedConfiguration == (change.index, withLearner))
        cluster.propose([2])
        cluster.heartbeats()
        #expect(cluster.appliedCommands(4) == [[1], [2]])
    }

    @Test("phase 1 also asks the voters of a configuration it learns of from the promises")
    func takeoverAsksVotersItLearnsOf() throws {
        var cluster = membershipCluster(voters: 3) { $0.checkQuorum = false }
        cluster.addNewcomer(4)
        cluster.elect(1)
        cluster.isolated = [3]
        try cluster.proposeChange(.addLearner(4, promoteWhenCaughtUp: true))
        cluster.heartbeats()
        #expect(cluster[1].configuration == Configuration(voters: [1, 2, 3, 4]))
        let tickets = try (1...3).map { (value: UInt8) in try cluster.proposeAndRun([value], on: 1) }
        #expect(cluster[1].commitIndex == tickets.last!.index, "chosen by n1, n2 and n4, three of four")
        #expect(cluster[3].commitIndex < LogIndex(UInt64(alpha)), "n3 knows none of it")
        // n3 takes over without n1: the founders' majority (n2, n3) covers the slots n3 knows the configuration of,
        // but the promotion it learns from n2 makes n4 a voter of the later slots, where n2 and n3 are no majority.
        cluster.isolated = [1]
        cluster.dropWhere = { $0.from == 4 || $0.to == 4 }
        cluster[3].campaign()
        cluster.stabilize()
        #expect(cluster[3].role == .candidate)
        #expect(cluster.inFlight.isEmpty)
        cluster.dropWhere = nil
        cluster[3].campaign()
        cluster.stabilize()
        #expect(cluster.leader == 3)
        #expect(cluster.delivered.contains { $0.from == 3 && $0.to == 4 && $0.isPrepare })
        cluster.heartbeats()
        #expect(cluster.appliedCommands(3) == [[1], [2], [3]])
    }
}
