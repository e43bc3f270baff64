import QuorumConsensus
import QuorumSharding

/// The sharded world (`SimulationOptions.sharded`): keys are spread over the groups by a `ShardMap` — hash slots,
/// and one range-sharded keyspace cut into spans — and a mover keeps moving them while every fault runs: slot moves,
/// splits and merges of spans, each the seven steps of `ShardMover` (record the move, import, release, copy, finish
/// the import, drop, record the new owner), each step a log entry of the group it concerns, retried until it
/// commits and now and then resumed from the start as a restarted mover would. Clients route by a cached copy of
/// the map that they refresh only when refused, and follow a refusal to the group it names, as `ShardedClient`
/// and Redis Cluster's `ASK` do.
///
/// Checks on top of the multi-group world's: no group applies a command for a key, or serves a read of it, where
/// the key is not its own (`ShardOwnershipChecker`); one history for all groups, linearizable per key across moves;
/// and at the end every key is held by the group the map names, and by no other, with the value the history
/// allows (a final read joins the history).
extension MultiGroupSimulation {
    struct ShardedWorld {
        var map: ShardMap
        let ownershipChecker: ShardOwnershipChecker
        let keys: [String]
        /// Each client's copy of the map, refreshed when a request is refused.
        var cachedMaps: [ShardMap]
        /// Per client: the group a refusal named for a key, where its next request for that key goes.
        var redirects: [[String: GroupID]]
        var mover: MoveInProgress?
        var nextMove = 1

        static let rangePrefix = "r/"
        static let rangeKeys = ["r/a", "r/f", "r/k", "r/p", "r/u"]
        /// Where spans of the range-sharded keyspace split (and, where a span starts, merge).
        static let splitPoints = ["r/d", "r/h", "r/m", "r/s"]

        init(groups: Int, hashKeys: Int, clients: Int) {
            // One non-empty prefix in an empty map: nothing for `declaring` to refuse.
            map = try! ShardMap.founding(groups: groups).declaring(
                prefix: Array(Self.rangePrefix.utf8), owner: GroupID(1))
            ownershipChecker = ShardOwnershipChecker(founding: map)
            keys = (0..<hashKeys).map { "s\($0)" } + Self.rangeKeys
            cachedMaps = Array(repeating: map, count: clients)
            redirects = Array(repeating: [:], count: clients)
        }
    }

    struct MoveInProgress {
        enum Stage: Equatable {
            case importKeys, releaseKeys, exportKeys, adoptKeys([String: Int]), finishImport, dropKeys
        }

        var move: Int
        var migration: ShardMigration
        var stage = Stage.importKeys
        var skipsCopy = false
        var token: UInt64?
        var node: [GroupID: NodeID] = [:]

        var group: GroupID {
            switch stage {
            case .importKeys, .adoptKeys, .finishImport: migration.to
            case .releaseKeys, .exportKeys, .dropKeys: migration.from
            }
        }

        var step: ShardStep {
            let kind: ShardStep.Kind
            switch stage {
            case .importKeys: kind = .importKeys(from: migration.from)
            case .releaseKeys: kind = .releaseKeys(to: migration.to)
            case .exportKeys: kind = .exportKeys
            case .adoptKeys(let values): kind = .adoptKeys(values)
            case .finishImport: kind = .finishImport
            case .dropKeys: kind = .dropKeys
            }
            return ShardStep(move: move, keys: migration.keys, kind: kind)
        }
    }

    func shardedRegisters(group: Int) -> ShardedRegisters? {
        shards.map {
            ShardedRegisters(
                group: GroupID(UInt64(group)), ownershipChecker: $0.ownershipChecker, injectedBug: options.injectedBug)
        }
    }

    // MARK: Clients

    /// A key, and the group its client's map (or a refusal it followed) sends it to.
    func routeShardedRequest(client: Int) -> (key: String, group: Int) {
        let key = shards!.keys.randomElement(using: &random)!
        let group =
            shards!.redirects[client].removeValue(forKey: key)
            ?? shards!.cachedMaps[client].owner(ofKey: Array(key.utf8))
        return (key, Int(group.rawValue))
    }

    /// A request refused because its group does not serve the key: it took no effect. The client refreshes its map
    /// and, when the refusal names the group the key went to, sends its next request for the key there.
    func followRefusal(_ refusal: KeyOwnership.Refusal, client: Int, key: String) {
        stats.staleRoutesRefused += 1
        shards!.cachedMaps[client] = shards!.map
        if case .moved(let target) = refusal { shards!.redirects[client][key] = target }
    }

    // MARK: The mover

    func beginMove() {
        guard phase == .faults, shards!.mover == nil else { return }
        let map = shards!.map
        let keys: KeySelector
        let target: GroupID
        if random.chance(0.5) {
            // A hash key's slot, alone or with its neighbours.
            let key = Array(
                shards!.keys.filter { !$0.hasPrefix(ShardedWorld.rangePrefix) }.randomElement(using: &random)!.utf8)
            let slot = HashSlot(key: key).rawValue
            let source = map.owner(ofKey: key)
            let width = random.chance(0.5) ? 0 : Int(random.next(upperBound: UInt64(200)))
            let wide = max(0, slot - width)...min(HashSlot.count - 1, slot + width)
            keys = map.assignment.owners(of: wide) == [source] ? .slots(wide) : .slots(slot...slot)
            target = otherGroup(than: source)
        } else {
            // A split at a point inside a span, or a merge of the span starting there into the span before it.
            let point = Array(ShardedWorld.splitPoints.randomElement(using: &random)!.utf8)
            let pieces = map.keyspaces[0].owners.pieces
            guard let index = pieces.firstIndex(where: { $0.span.contains(point) }),
                let span = KeySpan(start: point, end: pieces[index].span.end)
            else { return scheduleNextMove() }
            keys = .span(span)
            target = pieces[index].span.start == point ? pieces[index - 1].value : otherGroup(than: pieces[index].value)
        }
        guard var next = try? map.beginning(keys, to: target) else { return scheduleNextMove() }
        next.epoch = map.epoch + 1
        shards!.map = next
        let move = shards!.nextMove
        shards!.nextMove += 1
        let migration = next.migrations.first { $0.keys == keys }!
        shards!.ownershipChecker.began(migration, move: move)
        shards!.mover = MoveInProgress(move: move, migration: migration)
        note("move \(move): \(keys) from group \(migration.from.rawValue) to \(target.rawValue) (epoch \(next.epoch))")
        proposeMoveStep()
    }

    private func otherGroup(than group: GroupID) -> GroupID {
        GroupID(UInt64(groupNumbers.filter { $0 != Int(group.rawValue) }.randomElement(using: &random)!))
    }

    func scheduleNextMove() {
        schedule(.beginMove, after: 20 + random.next(upperBound: options.moveIntervalMs))
    }

    /// Proposes the current step to the group it concerns, through the node last known to lead it.
    func proposeMoveStep() {
        guard var mover = shards!.mover else { return }
        let group = mover.group
        let node = mover.node.removeValue(forKey: group) ?? allNodeIDs.randomElement(using: &random)!
        let token = issueToken()
        var refusal: ProposalError?
        if nodes[node]!.isUp {
            withReplica(node, Int(group.rawValue)) { driver in
                do throws(ProposalError) {
                    try driver.propose(mover.step.encoded, token: token)
                } catch {
                    refusal = error
                }
            }
        } else {
            refusal = .notLeader(leaderHint: nil)
        }
        if let refusal {
            if case .notLeader(let hint?) = refusal { mover.node[group] = hint }
            mover.token = nil
            shards!.mover = mover
            schedule(.moverRetry, after: 5 + random.next(upperBound: 20))
            return
        }
        mover.token = token
        mover.node[group] = node
        shards!.mover = mover
        schedule(.moverTimeout(token: token), after: options.operationTimeoutMs)
    }

    /// Whether the completion was the mover's; if so, the move goes on.
    func moverCompleted(_ completion: Driver.Completion) -> Bool {
        guard var mover = shards?.mover, let token = mover.token else { return false }
        switch completion {
        case .committed(token, _, let output):
            mover.token = nil
            switch output {
            case .stepDone(let alreadyImported)?:
                if mover.stage == .importKeys { mover.skipsCopy = alreadyImported }
            case .exported(let values)?:
                mover.stage = .adoptKeys(values)
                shards!.mover = mover
                proposeMoveStep()
                return true
            case .stepFailed(let reason)?:
                fail("move \(mover.move) refused its step \(mover.stage): \(reason)", group: Int(mover.group.rawValue))
                return true
            default:
                fail(
                    "move \(mover.move): step \(mover.stage) answered \(String(describing: output))",
                    group: Int(mover.group.rawValue))
                return true
            }
            shards!.mover = mover
            advanceMove()
        case .dropped(token), .readFailed(token), .unknown(token):
            retryMoveStep()
        default:
            return false
        }
        return true
    }

    func moverTimedOut(token: UInt64) {
        guard shards?.mover?.token == token else { return }
        retryMoveStep()
    }

    /// Every step may be repeated. Now and then the mover starts over instead, as a mover that was restarted
    /// resumes the moves recorded in the map.
    private func retryMoveStep() {
        shards!.mover!.token = nil
        if random.chance(0.25) { resumeMove() }
        proposeMoveStep()
    }

    private func resumeMove() {
        stats.movesResumed += 1
        note("move \(shards!.mover!.move): the mover starts over")
        shards!.mover!.stage = .importKeys
        shards!.mover!.skipsCopy = false
    }

    private func advanceMove() {
        var mover = shards!.mover!
        switch mover.stage {
        case .importKeys where options.injectedBug == .copyBeforeRelease:
            mover.stage = mover.skipsCopy ? .releaseKeys : .exportKeys
        case .adoptKeys where options.injectedBug == .copyBeforeRelease: mover.stage = .releaseKeys
        case .releaseKeys where options.injectedBug == .copyBeforeRelease: mover.stage = .finishImport
        case .importKeys: mover.stage = .releaseKeys
        case .releaseKeys: mover.stage = mover.skipsCopy ? .finishImport : .exportKeys
        case .exportKeys, .adoptKeys: mover.stage = .finishImport
        case .finishImport: mover.stage = .dropKeys
        case .dropKeys:
            var map = shards!.map.finishing(mover.migration)
            map.epoch = shards!.map.epoch + 1
            shards!.map = map
            shards!.mover = nil
            stats.movesFinished += 1
            note(
                "move \(mover.move) done: \(mover.migration.keys) belong to group \(mover.migration.to.rawValue) (epoch \(map.epoch))"
            )
            scheduleNextMove()
            return
        }
        shards!.mover = mover
        if random.chance(0.05) { resumeMove() }
        proposeMoveStep()
    }

    // MARK: The end

    /// After the run: every key is held by the group the map names, served there, and held by no other group; each
    /// key's final value joins the history as a read, so a lost acknowledged write makes it non-linearizable.
    func checkFinalShards() -> String? {
        guard let shards else { return nil }
        if let mover = shards.mover {
            return "move \(mover.move) of \(mover.migration.keys) did not finish after healing (at step \(mover.stage))"
        }
        func latest(_ group: Int) -> RegisterMachine? {
            allNodeIDs.compactMap { nodes[$0]!.replicas[group]?.driver }.max { $0.appliedIndex < $1.appliedIndex }?
                .stateMachine
        }
        for key in shards.keys {
            let owner = Int(shards.map.owner(ofKey: Array(key.utf8)).rawValue)
            guard let machine = latest(owner) else { return "no replica of group \(owner), which owns \(key), is up" }
            if let refusal = machine.shards!.refusal(forKey: key) {
                return "group \(owner) owns \(key) by the map but refuses it at the end (\(refusal))"
            }
            for group in groupNumbers where group != owner {
                if let value = latest(group)?.registers[key] {
                    return "\(key) is held by group \(group) (value \(value)) as well as its owner, group \(owner)"
                }
            }
            histories[0]!.append(
                HistoryOperation(
                    client: clients.count, key: key, operation: .get, invokedAt: now, completedAt: now,
                    result: .value(machine.registers[key])))
        }
        return nil
    }
}
