import QuorumConsensus
import QuorumStore

/// The client workload: reads, writes and compare-and-set against whichever node a client believes leads,
/// recorded as a history for the linearizability checker.
extension Simulation {
    /// A command as the log carries it: a store proposal in a world that runs the store, a put there attaching its
    /// key to `lease`.
    func encoded(_ command: RegisterCommand, lease: LeaseID? = nil) -> [UInt8] {
        options.runsStore ? StoreRegisters.proposal(for: command, lease: lease).encoded : command.encoded
    }

    func issueToken() -> UInt64 {
        nextToken += 1
        return nextToken
    }

    func startOperation(_ client: Int) {
        guard phase == .faults || phase == .liveness else { return }
        if options.runsStore, startLeaseAction(client) { return }
        let key = "k\(random.next(upperBound: UInt64(options.keys)))"
        var operation = OperationMix().draw(nextWrittenValue: &nextWrittenValue, random: &random)
        let node = clients[client].preferredNode ?? allNodeIDs.randomElement(using: &random)!
        guard nodes[node]!.driver != nil else {
            clients[client].preferredNode = nil
            stats.operationsRefused += 1
            schedule(.clientNext(client), after: 5)
            return
        }
        // With the store, some puts are deletes, and some attach their key to the client's lease: a write the
        // client does not retry, since a session's remembered answer cannot say that the lease was gone.
        var lease: LeaseID?
        if options.runsStore, operation.isPut {
            if leaseDraws.chance(0.15) {
                operation = .delete
            } else if leaseDraws.chance(0.5) {
                lease = clients[client].lease
            }
        }
        let command = RegisterCommand(key: key, operation: operation)
        let isRead = operation == .get
        clients[client].write = nil
        if options.runsStore, !isRead, lease == nil {
            clients[client].sequence += 1
            let session = ClientSession(
                client: ClientID(rawValue: UInt64(client) + 1),
                sequence: SequenceNumber(rawValue: clients[client].sequence))
            clients[client].write = ClientWrite(command: command, session: session)
        }
        let token = issueToken()
        var refusal: ProposalError?
        withDriver(node) { driver in
            do throws(ProposalError) {
                if isRead {
                    try driver.read(token: token)
                } else {
                    try driver.propose(
                        clients[client].write.map(encodedAttempt) ?? encoded(command, lease: lease), token: token)
                }
            } catch {
                refusal = error
            }
        }
        if let refusal {
            stats.operationsRefused += 1
            if case .notLeader(let hint) = refusal { clients[client].preferredNode = hint }
            schedule(.clientNext(client), after: 2 + random.next(upperBound: 10))
            return
        }
        history.append(
            HistoryOperation(
                client: client, key: key, operation: operation, invokedAt: now, completedAt: nil, result: nil))
        outstanding[token] = (client, history.count - 1, node)
        clients[client].isWaiting = true
        schedule(.clientTimeout(token: token), after: options.operationTimeoutMs)
    }

    func complete(_ completion: Driver.Completion, on node: NodeID) {
        switch completion {
        case .committed(let token, let index, let output):
            if livenessProbeTokens.contains(token) { livenessProbeIndex = livenessProbeIndex ?? index }
            if finishLeaseAction(token: token, alive: output == .leaseAnswer(alive: true)) { return }
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            if output == .leaseMissing {
                // Its lease had been revoked: the put took no effect.
                clients[operation.client].lease = nil
                discarded.insert(operation.historyIndex)
                stats.operationsRefused += 1
                finish(client: operation.client)
                return
            }
            guard case .result(let result)? = output else {
                checker.fail("a client command at \(index) produced \(String(describing: output))")
                return
            }
            record(operation, result: result)
        case .readable(let token):
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            let key = history[operation.historyIndex].key
            record(operation, result: .value(readValue(of: key, on: node)))
        case .dropped(let token), .readFailed(let token):
            if finishLeaseAction(token: token, alive: false) { return }
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            if let write = clients[operation.client].write, write.attempts > 1 {
                // Only this attempt certainly did not take effect; an earlier one may have.
                giveUpOrRetry(operation)
                return
            }
            // It certainly did not take effect: leave it out of the history.
            discarded.insert(operation.historyIndex)
            stats.operationsRefused += 1
            finish(client: operation.client)
        case .unknown(let token):
            if finishLeaseAction(token: token, alive: false) { return }
            guard let operation = outstanding.removeValue(forKey: token) else { return }
            giveUpOrRetry(operation)
        }
    }

    /// An operation whose outcome is unknown: a write in a store world is sent again (`retry`); anything else is
    /// left with an unknown outcome.
    func giveUpOrRetry(_ operation: (client: Int, historyIndex: Int, node: NodeID)) {
        if retry(operation) { return }
        stats.operationsUnknown += 1
        finish(client: operation.client)
    }

    /// The bytes of a write's next attempt: in its session, so that the store applies it once however many
    /// attempts reach the log (a retry leaves the session out with `InjectedBug.retriesWithoutSession`).
    func encodedAttempt(_ write: ClientWrite) -> [UInt8] {
        let session = write.attempts > 1 && options.injectedBug == .retriesWithoutSession ? nil : write.session
        return StoreRegisters.proposal(for: write.command, session: session).encoded
    }

    /// With the store, a write whose outcome is unknown is sent again in the same session with the same sequence,
    /// as QuorumClient retries, to the node the client now prefers (following one redirect to the leader). The store
    /// applies it at most once, so it stays one operation of the history, completed by whichever attempt answers.
    /// Returns false once the client gives up (after `writeAttemptsMax` attempts, when the faults are over, or when no
    /// node takes it): the outcome then stays unknown.
    func retry(_ operation: (client: Int, historyIndex: Int, node: NodeID)) -> Bool {
        guard phase == .faults || phase == .liveness, var write = clients[operation.client].write,
            write.attempts < Self.writeAttemptsMax
        else { return false }
        write.attempts += 1
        clients[operation.client].write = write
        var node = clients[operation.client].preferredNode ?? operation.node
        for _ in 0..<2 {
            guard nodes[node]!.driver != nil else { return false }
            let token = issueToken()
            var refusal: ProposalError?
            withDriver(node) { driver in
                do throws(ProposalError) { try driver.propose(encodedAttempt(write), token: token) } catch {
                    refusal = error
                }
            }
            guard let refusal else {
                stats.writesRetried += 1
                outstanding[token] = (operation.client, operation.historyIndex, node)
                schedule(.clientTimeout(token: token), after: options.operationTimeoutMs)
                return true
            }
            guard case .notLeader(let hint?) = refusal else { return false }
            node = hint
        }
        return false
    }

    static let writeAttemptsMax = 4

    func record(_ operation: (client: Int, historyIndex: Int, node: NodeID), result: KVResult) {
        history[operation.historyIndex].completedAt = now
        history[operation.historyIndex].result = result
        stats.operationsCompleted += 1
        clients[operation.client].preferredNode = operation.node
        finish(client: operation.client)
    }

    func finish(client: Int) {
        clients[client].isWaiting = false
        schedule(.clientNext(client), after: random.next(upperBound: 10))
    }
}
