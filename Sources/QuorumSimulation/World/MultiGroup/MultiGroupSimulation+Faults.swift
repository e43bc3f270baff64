import QuorumConsensus

/// Starting and crashing nodes (all their groups at once), membership changes and leadership transfers in one
/// group at a time, and healing into the liveness phase, where every group must elect a leader and commit.
extension MultiGroupSimulation {
    func start(_ id: NodeID) {
        let disk = nodes[id]!.disk
        let incarnation = nodes[id]!.incarnation
        for group in groupNumbers {
            let recovered = disk.recovered(group: group, groups: options.groups, injectedBug: options.injectedBug)
            if let foreign = GroupIsolation.foreignGroup(in: recovered.entries, expected: group) {
                fail(
                    "group isolation: \(id) recovered group \(foreign.group)'s entry \(foreign.entry) "
                        + "into group \(group)",
                    group: group)
                return
            }
            if let snapshot = recovered.snapshot,
                let foreign = GroupIsolation.foreignGroup(in: snapshot, expected: group)
            {
                fail("group isolation: \(id) recovered group \(foreign)'s snapshot into group \(group)", group: group)
                return
            }
            let engine: SelectedEngine
            do {
                switch options.consensus {
                case .raft:
                    engine = .raft(
                        try RaftNode(
                            id: id, options: options.raftOptions(for: id, incarnation: incarnation, group: group),
                            recovered: recovered))
                case .paxos:
                    engine = .paxos(
                        try MultiPaxosNode(
                            id: id, options: options.paxosOptions(for: id, incarnation: incarnation, group: group),
                            recovered: recovered))
                }
            } catch {
                fail("\(id) could not start: \(error)", group: group)
                return
            }
            let driver = Driver(
                engine: engine, stateMachine: RegisterMachine(
                    node: id, checker: checker(group), group: group, shards: shardedRegisters(group: group)),
                storage: GroupStorage(group: group, disk: disk),
                transport: GroupEndpoint(node: id, group: group, disk: disk, world: self),
                recoveredSnapshot: recovered.snapshot,
                processing: .whenAsked)
            nodes[id]!.replicas[group] = Replica(driver: driver)
            withReplica(id, group) { _ in }
        }
        nodes[id]!.isUp = true
        // A fresh node has heard from nobody yet; it gives every peer a full timeout before suspecting it.
        for peer in allNodeIDs where peer != id { nodes[id]!.peers[peer] = (now, nil) }
        nodes[id]!.lastLivenessSent = 0
        schedule(.tick(id, incarnation: incarnation), after: 1 + random.next(upperBound: options.tickIntervalMs))
    }

    func crash(_ victim: NodeID) {
        let disk = nodes[victim]!.disk
        let torn =
            disk.hasUnsyncedWrites && random.chance(0.5)
            ? Int(random.next(upperBound: UInt64(disk.firstUnsyncedRecordCount + 1))) : nil
        disk.crash(tornAfterRecords: torn)
        nodes[victim]!.replicas.removeAll()
        outboxes[victim] = nil
        nodes[victim]!.isUp = false
        nodes[victim]!.incarnation += 1
        stats.crashes += 1
        note("crash \(victim)\(torn.map { ", torn write kept \($0) records" } ?? "")")
        schedule(.restart(victim), after: 200 + random.next(upperBound: 2_000))
    }

    func currentLeader(of group: Int) -> NodeID? {
        allNodeIDs.filter { nodes[$0]!.replicas[group]?.driver.engine.role == .leader }
            .max { nodes[$0]!.replicas[group]!.driver.engine.term < nodes[$1]!.replicas[group]!.driver.engine.term }
    }

    /// Keeps the group's voter count within one of the initial size, adding and removing nodes (the leader too).
    func changeMembership(group: Int) {
        guard let leader = currentLeader(of: group) else { return }
        let configuration = nodes[leader]!.replicas[group]!.driver.engine.configuration
        let outsiders = allNodeIDs.filter { !configuration.contains($0) }
        let canAdd = !outsiders.isEmpty && configuration.voters.count <= options.clusterSize
        let canRemove = configuration.voters.count >= options.clusterSize
        let change: ConfigurationChange
        if canAdd && (!canRemove || random.chance(0.5)) {
            change = .addLearner(outsiders.randomElement(using: &random)!, promoteWhenCaughtUp: true)
        } else if canRemove {
            let members = configuration.voters.union(configuration.learners).sorted()
            change = .remove(members.randomElement(using: &random)!)
        } else {
            return
        }
        withReplica(leader, group) { driver in
            do throws(ProposalError) {
                try driver.proposeConfigurationChange(change, token: 0)
                self.note("group \(group): \(leader) proposes \(change)")
            } catch {
                self.note("group \(group): \(leader) refuses \(change): \(error)")
            }
        }
    }

    func transferLeadership(group: Int) {
        guard let leader = currentLeader(of: group) else { return }
        let voters = nodes[leader]!.replicas[group]!.driver.engine.configuration.voters.subtracting([leader]).sorted()
        guard let target = voters.randomElement(using: &random) else { return }
        withReplica(leader, group) { driver in
            if (try? driver.transferLeadership(to: target)) != nil {
                self.stats.leadershipTransfers += 1
                self.note("group \(group): \(leader) transfers leadership to \(target)")
            }
        }
    }

    func heal() {
        phase = .liveness
        network.repair()
        note("heal: network repaired, crashed nodes restart")
        for id in allNodeIDs where !nodes[id]!.isUp { start(id) }
        for group in groupNumbers { livenessProbes[group] = ([], nil, false) }
        schedule(.livenessProbe, after: 1)
    }

    /// In every group: writes through the current leader until one commits, then waits for every voter to apply
    /// it. A quiescent group must wake for the write, and one whose leader is gone must elect another.
    func probeLiveness() {
        guard phase == .liveness else { return }
        schedule(.livenessProbe, after: 20)
        for group in groupNumbers where livenessProbes[group]?.done == false {
            guard let leader = currentLeader(of: group) else { continue }
            if let index = livenessProbes[group]!.index {
                let voters = nodes[leader]!.replicas[group]!.driver.engine.configuration.voters
                if voters.allSatisfy({ (nodes[$0]!.replicas[group]?.driver.appliedIndex ?? 0) >= index }) {
                    livenessProbes[group]!.done = true
                    note("group \(group) live: \(leader) leads, probe at \(index) applied on \(voters.sorted())")
                }
                continue
            }
            let token = issueToken()
            let command = RegisterCommand(
                key: GroupIsolation.key("liveness", group: group), operation: .put(Int(now))
            ).encoded
            withReplica(leader, group) { driver in
                if (try? driver.propose(command, token: token)) != nil {
                    self.livenessProbes[group]!.tokens.insert(token)
                }
            }
        }
        if groupNumbers.allSatisfy({ livenessProbes[$0]!.done }) {
            stats.livenessMs = now - options.faultPhaseMs
            phase = .draining
        }
    }
}
