import QuorumConsensus
import QuorumStore

/// Crashes, restarts, membership changes, leadership transfers, and healing into the liveness phase.
extension Simulation {
    func start(_ id: NodeID) {
        let disk = nodes[id]!.disk
        if let damage = disk.damage {
            guard options.injectedBug == .damagedDiskWipedInPlace else {
                note("\(id) refuses to start: \(damage); it stays down")
                return
            }
            disk.wipe()
            note("\(id)'s damaged disk is wiped, and it starts again under its old id")
        }
        if let forgotten = disk.promisesMade.forgotten(by: disk.durable) {
            checker.fail("durability: \(id) \(forgotten)")
            return
        }
        let recovered = disk.durable
        let engine: SelectedEngine
        let incarnation = nodes[id]!.incarnation
        do {
            switch options.consensus {
            case .raft:
                engine = .raft(
                    try RaftNode(
                        id: id, options: options.raftOptions(for: id, incarnation: incarnation), recovered: recovered))
            case .paxos:
                engine = .paxos(
                    try MultiPaxosNode(
                        id: id, options: options.paxosOptions(for: id, incarnation: incarnation), recovered: recovered))
            }
        } catch {
            checker.fail("\(id) could not start: \(error)")
            return
        }
        nodes[id]!.leaderTerm = nil
        nodes[id]!.processingScheduled = false
        nodes[id]!.highestCommit = 0
        nodes[id]!.highestApplied = 0
        nodes[id]!.clockStalledUntil = nil
        nodes[id]!.leaseRevocations = LeaseRevocations(perTick: 4)
        let machine = RegisterMachine(
            node: id, checker: checker, runsStore: options.runsStore, revocations: revocations,
            injectedBug: options.injectedBug)
        nodes[id]!.driver = Driver(
            engine: engine, stateMachine: machine, storage: disk, transport: nodes[id]!.endpoint,
            recoveredSnapshot: recovered.snapshot,
            serializesSnapshotsInline: options.snapshotSerializationMsMax == 0, processing: .whenAsked)
        withDriver(id) { _ in }
        schedule(.tick(id, incarnation: incarnation), after: 1 + random.next(upperBound: options.tickIntervalMs))
    }

    func crash(_ victim: NodeID) { crash(victim, drawingFrom: &random) }

    /// Crashes `victim`, losing what its disk had not synced and maybe keeping a torn part of its last write, and
    /// restarts it later; `draws` decides the tear and the delay.
    private func crash(_ victim: NodeID, drawingFrom draws: inout SplitMix64) {
        let disk = nodes[victim]!.disk
        let torn =
            disk.hasPendingWrites && draws.chance(0.5)
            ? Int(draws.next(upperBound: UInt64(disk.firstPendingRecordCount + 1))) : nil
        disk.crash(tornAfterRecords: torn)
        nodes[victim]!.driver = nil
        nodes[victim]!.incarnation += 1
        stats.crashes += 1
        note("crash \(victim)\(torn.map { ", torn write kept \($0) records" } ?? "")")
        schedule(.restart(victim), after: 200 + draws.next(upperBound: 2_000))
        damageDiskNow(victim)
    }

    /// Now and then a crashed node's disk turns out to have damaged synced data. Its storage refuses to start on
    /// it, so it stays down for good (what it held is never served), and the operator replaces it: removes it from
    /// the configuration, while the world's spare nodes stand in for the replacement a new id would bring. One
    /// node at most per world, and only where every configuration the nodes hold keeps a quorum without it: a
    /// cluster that loses a quorum's disks for good has lost its data, which no protocol can help.
    private func damageDiskNow(_ victim: NodeID) {
        let quorumSurvives = allNodeIDs.allSatisfy { id in
            guard let configuration = nodes[id]!.configuration else { return true }
            return configuration.voters.subtracting([victim]).count >= configuration.quorumSize
        }
        guard quorumSurvives, damagedNode == nil, diskDamages.chance(0.05) else { return }
        let disk = nodes[victim]!.disk
        disk.damageSyncedRecord(latentSectorError: diskDamages.chance(0.5))
        stats.disksDamaged += 1
        note("\(victim)'s disk is damaged: \(disk.damage!)")
        schedule(.removeDamaged(victim), after: 500 + diskDamages.next(upperBound: 1_500))
    }

    /// The node whose disk was found damaged, if any (one at most per world).
    var damagedNode: NodeID? { allNodeIDs.first { nodes[$0]!.disk.damage != nil } }

    /// The operator removes a node whose disk is damaged, through whichever node leads, until no leader's
    /// configuration names it any more (a leader that never learned of the removal may come to lead again).
    func removeDamaged(_ id: NodeID) {
        guard phase != .finished else { return }
        schedule(.removeDamaged(id), after: 200)
        guard let leader = currentLeader, nodes[leader]!.driver!.engine.configuration.contains(id) else { return }
        withDriver(leader) { driver in
            if (try? driver.proposeConfigurationChange(.remove(id), token: 0)) != nil {
                self.note("\(leader) proposes removing \(id), whose disk is damaged")
            }
        }
    }

    /// The whole cluster loses power at once: every running node crashes, each losing what it had not synced,
    /// and all come back within two seconds. Whatever was acknowledged must have been durable on a quorum.
    /// Drawn from a stream of its own, so that worlds without one are as they were.
    func losePower(_ running: [NodeID]) {
        note("power loss: \(running.count) nodes crash at once")
        stats.powerLosses += 1
        for id in running { crash(id, drawingFrom: &powerLosses) }
    }

    /// Aimed at reads a leader answers on its own authority: the leader is cut off from the other nodes (clients
    /// still reach it) while its clock stalls, so nothing on it notices it lost the quorum while the others elect a
    /// new leader and commit. Only a leader that confirms each read with a quorum stays linearizable.
    func isolateWithStalledClock(_ leader: NodeID) {
        network.isolate(leader, from: allNodeIDs)
        let stallMs = options.operationTimeoutMs + aimedFaults.next(upperBound: 2 * options.operationTimeoutMs)
        nodes[leader]!.clockStalledUntil = now + stallMs
        note("partition: isolated leader \(leader), its clock stalled for \(stallMs) ms")
    }

    /// Aimed at Figure 8: a new leader is cut off at once and crashes once its first entry is on its own disk, so
    /// that entry, of a newer term than what the others hold at that index, is stranded there for later.
    func strand(_ leader: NodeID) {
        network.isolate(leader, from: allNodeIDs)
        schedule(.crashNode(leader), after: options.diskLatencyMsMax + 1)
        note("\(leader) is stranded: isolated, and crashes in \(options.diskLatencyMsMax + 1) ms")
    }

    var currentLeader: NodeID? {
        allNodeIDs.filter { nodes[$0]!.driver?.engine.role == .leader }
            .max { nodes[$0]!.driver!.engine.term < nodes[$1]!.driver!.engine.term }
    }

    /// Keeps the voter count within one of the initial size, adding and removing nodes (the leader included).
    func changeMembership() {
        guard let leader = currentLeader else { return }
        let configuration = nodes[leader]!.driver!.engine.configuration
        // An operator replacing a node whose disk is damaged changes nothing else until it is out (`removeDamaged`):
        // removing a healthy voter meanwhile could leave the damaged one needed for every quorum.
        if let damaged = damagedNode, configuration.contains(damaged) { return }
        let outsiders = allNodeIDs.filter { !configuration.contains($0) && $0 != damagedNode }
        let canAdd = !outsiders.isEmpty && configuration.voters.count <= options.clusterSize
        let canRemove = configuration.voters.count >= options.clusterSize
        let change: ConfigurationChange
        if canAdd && (!canRemove || random.chance(0.5)) {
            // Aimed at the rule that learners never count towards a quorum: a quarter of the nodes added stay
            // learners, so they are caught up while voters lag, not only for the moment before their promotion.
            let staysLearner = plainLearners.chance(0.25)
            change = .addLearner(outsiders.randomElement(using: &random)!, promoteWhenCaughtUp: !staysLearner)
        } else if canRemove {
            let members = configuration.voters.union(configuration.learners).sorted()
            change = .remove(members.randomElement(using: &random)!)
        } else {
            return
        }
        // Aimed at the one-change-at-a-time rule: now and then a second change follows at once, which the leader
        // must refuse. Drawn from a stream of its own, so the world's other draws stay as they were.
        let secondRemoval =
            aimedFaults.chance(0.3)
            ? configuration.voters.subtracting([leader]).sorted().filter { change != .remove($0) }.first : nil
        withDriver(leader) { driver in
            for change in [change] + (secondRemoval.map { [.remove($0)] } ?? []) {
                do throws(ProposalError) {
                    try driver.proposeConfigurationChange(change, token: 0)
                    self.note("\(leader) proposes \(change)")
                } catch {
                    self.note("\(leader) refuses \(change): \(error)")
                    return
                }
            }
        }
    }

    func transferLeadership() {
        guard let leader = currentLeader else { return }
        let voters = nodes[leader]!.driver!.engine.configuration.voters.subtracting([leader]).sorted()
        guard let target = voters.randomElement(using: &random) else { return }
        withDriver(leader) { driver in
            if (try? driver.transferLeadership(to: target)) != nil {
                self.stats.leadershipTransfers += 1
                self.note("\(leader) transfers leadership to \(target)")
            }
        }
    }

    func heal() {
        phase = .liveness
        network.repair()
        note("heal: network repaired, crashed nodes restart")
        for id in allNodeIDs where nodes[id]!.driver == nil { start(id) }
        schedule(.livenessProbe, after: 1)
    }

    /// Writes through the current leader until one write commits, then waits for every voter to apply it.
    func probeLiveness() {
        guard phase == .liveness else { return }
        schedule(.livenessProbe, after: 20)
        guard let leader = currentLeader else { return }
        if let index = livenessProbeIndex {
            let voters = nodes[leader]!.driver!.engine.configuration.voters
            if voters.allSatisfy({ (nodes[$0]?.driver?.appliedIndex ?? 0) >= index }) {
                stats.livenessMs = now - options.faultPhaseMs
                note("liveness: \(leader) leads, probe at \(index) applied on \(voters.sorted())")
                phase = .draining
            }
            return
        }
        let token = issueToken()
        let command = encoded(RegisterCommand(key: "liveness", operation: .put(Int(now))))
        withDriver(leader) { driver in
            if (try? driver.propose(command, token: token)) != nil { self.livenessProbeTokens.insert(token) }
        }
    }
}
