import QuorumConsensus

/// The client workload of a multi-group world: each operation goes to one group, chosen with a skew (group 1 is
/// hot, the others cold) so that some groups stay busy while others fall idle and quiesce between operations,
/// which is when faults find quiescent groups. Each group's history is checked on its own.
extension MultiGroupSimulation {
    func issueToken() -> UInt64 {
        nextToken += 1
        return nextToken
    }

    func pickGroup() -> Int {
        random.chance(0.5) ? 1 : groupNumbers.randomElement(using: &random)!
    }

    func startOperation(_ client: Int) {
        guard phase == .faults || phase == .liveness else { return }
        let (key, group): (String, Int)
        if shards != nil {
            (key, group) = routeShardedRequest(client: client)
        } else {
            group = pickGroup()
            // A cold group holds one register, which all its reads and writes contend on.
            let keys = group == 1 ? options.keys : 1
            key = GroupIsolation.key("k\(random.next(upperBound: UInt64(keys)))", group: group)
        }
        let bucket = historyBucket(group)
        // The hot group takes the usual mix; cold groups are read-mostly, as metadata and configuration ranges are,
        // so a cold group's leader sees long runs of reads between writes.
        let mix = group == 1 || shards != nil ? OperationMix() : OperationMix(readsBelow: 16, putsBelow: 19)
        let operation = mix.draw(nextWrittenValue: &nextWrittenValue, random: &random)
        // Reads go to the leader the client last wrote through (now and then to any node); a write goes to the
        // leader the last refusal named, else to any node, as through a load balancer. So a leader cut off from
        // its group keeps receiving reads while writes find its successor.
        let isRead = operation == .get
        let node: NodeID
        if isRead {
            let wandering = random.chance(0.25)
            node = (wandering ? nil : clients[client].knownLeader[group]) ?? allNodeIDs.randomElement(using: &random)!
        } else {
            node = clients[client].writeHint.removeValue(forKey: group) ?? allNodeIDs.randomElement(using: &random)!
        }
        guard nodes[node]!.isUp else {
            clients[client].knownLeader[group] = nil
            stats.operationsRefused += 1
            schedule(.clientNext(client), after: 5)
            return
        }
        let token = issueToken()
        // Registered before the call: a read a leader answers at once (a lease, or the quiescent-leader bug)
        // completes inside it, and must land in the history like any other.
        histories[bucket]!.append(
            HistoryOperation(
                client: client, key: key, operation: operation, invokedAt: now, completedAt: nil, result: nil))
        outstanding[token] = (client, group, histories[bucket]!.count - 1, node)
        clients[client].isWaiting = true
        var refusal: ProposalError?
        withReplica(node, group) { driver in
            do throws(ProposalError) {
                if case .get = operation {
                    try driver.read(token: token)
                } else {
                    try driver.propose(RegisterCommand(key: key, operation: operation).encoded, token: token)
                }
            } catch {
                refusal = error
            }
        }
        if let refusal {
            histories[bucket]!.removeLast()
            outstanding[token] = nil
            clients[client].isWaiting = false
            stats.operationsRefused += 1
            if case .notLeader(let hint) = refusal {
                if isRead { clients[client].knownLeader[group] = hint } else { clients[client].writeHint[group] = hint }
            }
            schedule(.clientNext(client), after: 2 + random.next(upperBound: 10))
            return
        }
        if outstanding[token] != nil { schedule(.clientTimeout(token: token), after: options.operationTimeoutMs) }
    }

    func complete(_ completion: Driver.Completion, group: Int, on node: NodeID) {
        if shards != nil && moverCompleted(completion) { return }
        switch completion {
        case .committed(let token, let index, let output):
            if livenessProbes[group]?.tokens.contains(token) == true {
                livenessProbes[group]!.index = livenessProbes[group]!.index ?? index
            }
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            guard let output else {
                fail("a client command at \(index) produced no output", group: group)
                return
            }
            answer(operation, with: output)
        case .readable(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            let key = histories[historyBucket(group)]![operation.historyIndex].key
            let driver = nodes[node]!.replicas[group]!.driver
            answer(operation, with: driver.stateMachine.read(key, appliedIndex: driver.appliedIndex))
        case .dropped(let token), .readFailed(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            refuse(operation)
        case .unknown(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            stats.operationsUnknown += 1
            finish(client: operation.client)
        }
    }

    func answer(_ operation: (client: Int, group: Int, historyIndex: Int, node: NodeID), with output: RegisterOutput) {
        switch output {
        case .result(let result):
            record(operation, result: result)
        case .refused(let refusal):
            let key = histories[historyBucket(operation.group)]![operation.historyIndex].key
            followRefusal(refusal, client: operation.client, key: key)
            refuse(operation)
        case .stepDone, .exported, .stepFailed, .leaseAnswer, .leaseMissing:
            fail("a client operation was answered as no register's: \(output)", group: operation.group)
        }
    }

    /// The operation certainly did not take effect: it is left out of the history.
    func refuse(_ operation: (client: Int, group: Int, historyIndex: Int, node: NodeID)) {
        discarded[historyBucket(operation.group)]!.insert(operation.historyIndex)
        stats.operationsRefused += 1
        finish(client: operation.client)
    }

    func record(_ operation: (client: Int, group: Int, historyIndex: Int, node: NodeID), result: KVResult) {
        histories[historyBucket(operation.group)]![operation.historyIndex].completedAt = now
        histories[historyBucket(operation.group)]![operation.historyIndex].result = result
        stats.operationsCompleted += 1
        summaries[operation.group]!.operationsCompleted += 1
        if case .value = result {} else { clients[operation.client].knownLeader[operation.group] = operation.node }
        finish(client: operation.client)
    }

    func finish(client: Int) {
        clients[client].isWaiting = false
        schedule(.clientNext(client), after: random.next(upperBound: 10))
    }
}
