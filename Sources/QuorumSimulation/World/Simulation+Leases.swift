import QuorumConsensus
import QuorumStore

/// Leases in the worlds that run the store. Clients grant themselves leases, keep them alive and attach the keys
/// they put to them; each leader revokes the leases expired on its own wall clock through `LeaseRevocations`, as
/// the server does; and the nodes' wall clocks jump now and then, ahead or back. However the clocks jump, a
/// revocation is a log entry, so a key vanishes at one point of the log: the history records it as a delete,
/// invoked when a leader first proposed the revocation and complete at its first apply (`AppliedRevocations`).
extension Simulation {
    /// The wall clock a node stamps lease commands with and decides expiry by.
    func wallClock(_ id: NodeID) -> StoreTime {
        StoreTime(milliseconds: UInt64(max(0, Int64(now) + nodes[id]!.clockOffsetMs)))
    }

    /// A running node's tick, after its engine's: it revokes what expired if it leads, and its clock may jump.
    func leaseTick(_ id: NodeID) {
        revokeExpiredLeases(id)
        guard phase == .faults, leaseDraws.chance(0.0005) else { return }
        let jumpMs = Int64(100 + leaseDraws.next(upperBound: UInt64(2_900)))
        let ahead = leaseDraws.chance(0.5)
        nodes[id]!.clockOffsetMs += ahead ? jumpMs : -jumpMs
        stats.clockJumps += 1
        note("\(id)'s wall clock jumps \(ahead ? "ahead" : "back") \(jumpMs) ms")
    }

    private func revokeExpiredLeases(_ id: NodeID) {
        guard let store = nodes[id]!.driver?.stateMachine.store else { return }
        let isLeader = nodes[id]!.driver!.engine.role == .leader
        let due = nodes[id]!.leaseRevocations.due(in: store, now: wallClock(id), isLeader: isLeader)
        for lease in due {
            let token = issueToken()
            var proposed = false
            withDriver(id) { driver in
                proposed = (try? driver.propose(StoreProposal(.leaseRevoke(lease)).encoded, token: token)) != nil
            }
            guard proposed else { return }
            nodes[id]!.leaseRevocations.proposed(lease)
            // Read only once the run ends (`revocationDeletes`), so recording it after the proposal is soon enough.
            revocationProposedAt[lease] = revocationProposedAt[lease] ?? now
        }
    }

    /// Now and then, instead of a register operation, a client without a lease asks for one (a TTL of 0.2–2 s), and
    /// a client with one keeps it alive, stamped with the wall clock of the node it asks, as a leader stamps them.
    /// Returns false if it did neither; a register operation then follows.
    func startLeaseAction(_ client: Int) -> Bool {
        guard leaseDraws.chance(0.1) else { return false }
        let node = clients[client].preferredNode ?? allNodeIDs.randomElement(using: &leaseDraws)!
        guard nodes[node]!.driver != nil else { return false }
        let lease: LeaseID
        let command: StoreCommand
        if let held = clients[client].lease {
            lease = held
            command = .leaseKeepAlive(id: lease, at: wallClock(node))
        } else {
            clients[client].leasesAsked += 1
            lease = LeaseID(UInt64(client + 1) << 32 | clients[client].leasesAsked)
            let ttl = LeaseTTL(milliseconds: 200 + leaseDraws.next(upperBound: UInt64(1_800)))
            command = .leaseGrant(id: lease, ttl: ttl, grantedAt: wallClock(node))
        }
        let token = issueToken()
        var proposed = false
        withDriver(node) { driver in
            proposed = (try? driver.propose(StoreProposal(command).encoded, token: token)) != nil
        }
        guard proposed else { return false }
        leaseActions[token] = (client, lease)
        clients[client].isWaiting = true
        schedule(.leaseActionTimeout(token: token), after: options.operationTimeoutMs)
        return true
    }

    /// Ends the lease action awaiting `token`, if one does: the client holds the lease if it is `alive`, and forgets
    /// it otherwise (a lease whose grant or keep-alive went unanswered may live on; it expires unused).
    func finishLeaseAction(token: UInt64, alive: Bool) -> Bool {
        guard let action = leaseActions.removeValue(forKey: token) else { return false }
        if alive && clients[action.client].lease == nil { stats.leasesGranted += 1 }
        clients[action.client].lease = alive ? action.lease : nil
        finish(client: action.client)
        return true
    }

    /// A register's value as a read served by `node` answers it (`InjectedBug.readsHideExpiredLeases` hides a key
    /// whose lease has expired on the node's clock).
    func readValue(of key: String, on node: NodeID) -> Int? {
        let machine = nodes[node]!.driver!.stateMachine
        let value = machine.value(of: key)
        guard options.injectedBug == .readsHideExpiredLeases, let store = machine.store,
            let lease = (try? store.range(RangeRequest(key: Array(key.utf8))))?.kvs.first?.lease,
            let deadline = (try? store.timeToLive(of: lease, now: wallClock(node)))?.deadline,
            deadline <= wallClock(node)
        else { return value }
        return nil
    }

    /// Every applied revocation, as a delete of each key it removed. Their client is one past the last real one.
    func revocationDeletes() -> [HistoryOperation] {
        stats.leasesRevoked = revocations.applied.count
        stats.keysRevoked = revocations.applied.map(\.deletedKeys.count).reduce(0, +)
        return revocations.applied.flatMap { revocation -> [HistoryOperation] in
            guard let proposedAt = revocationProposedAt[revocation.lease] else {
                checker.fail("\(revocation.lease) was revoked, but no leader proposed it")
                return []
            }
            return revocation.deletedKeys.map { key in
                HistoryOperation(
                    client: options.clients, key: key, operation: .delete, invokedAt: proposedAt,
                    completedAt: revocation.appliedAt, result: .ok)
            }
        }
    }
}
