import QuorumConsensus
import QuorumSharding
import QuorumStore
import QuorumWire

/// Runs the Redis port's data commands against the node, for every connection of the port:
///
/// - reads (GET, MGET, TTL, ...) are linearizable range reads that also report lease deadlines, so a key whose
///   deadline has passed is absent even before the leader's revoke applies;
/// - plain SET (optionally EX/PX) and MSET are blind writes: straight into the log, so a pipeline of them costs
///   one round trip, not one per command;
/// - everything else (INCR, SET NX, DEL, EXPIRE, DELIFEQ, EXEC, Lua scripts, ...) reads its keys, computes the
///   outcome in a `RedisWorkingSet`, and writes it as one store transaction that compares each key's mod revision
///   with the one read: atomic, and retried from a fresh read when another writer got there first. Such commands on
///   the same key are queued behind one another on this node, so clients of one port do not make each other retry.
///
/// Everything runs on the runtime's event loop (the port's connections share it), so nothing here needs a lock.
final class RedisExecutor: @unchecked Sendable {
    // @unchecked Sendable: all state is touched only on the runtime's event loop, where every caller runs.
    typealias Reply = @Sendable (RESPValue) -> Void

    let backend: any RedisBackend
    /// Lease ids for new TTLs: random and non-zero, so ids from different ports and clients do not collide.
    var makeLeaseID: @Sendable () -> LeaseID = { LeaseID(UInt64.random(in: 1...UInt64.max)) }
    /// The largest encoded hash, set, sorted set or list (`RedisWorkingSet.valueBytesMax`).
    var valueBytesMax = StoreLimits.default.valueBytesMax
    /// Delivers what a script published, once its writes applied (`RedisRouter` sets it).
    var publish: (Publication) -> Void = { _ in }
    /// A transaction that keeps losing to other writers gives up after this many reads.
    static let attemptsMax = 32
    /// Keys a read-modify-write command is working on, and who waits for them.
    private var busyKeys: [[UInt8]: [@Sendable () -> Void]] = [:]
    /// Single commands waiting for busy keys, by the keys they need, not started yet (`join`).
    private var waitingBatches: [[[UInt8]]: Batch] = [:]
    /// A batch takes at most this many commands; more wait for the next one.
    static let batchCommandsMax = 128

    /// Waiting BLPOPs and BRPOPs by key, longest-waiting first. A change to a key lets only the first of its waiters
    /// try, and the next tries once that one is served or gives up: Redis serves blocked clients in the order they
    /// blocked.
    private var blockedPops: [[UInt8]: [BlockedPop]] = [:]

    init(backend: any RedisBackend) { self.backend = backend }

    // MARK: Reads

    /// A read-only command (GET, MGET, EXISTS, STRLEN, TTL, PTTL): one linearizable read of its keys.
    func read(_ command: RedisCommand, reply: @escaping Reply) {
        let keys = RedisCommandTable.keys(of: command)
        readKeys(keys, linearizable: true) { result in
            switch result {
            case .failure(let error): reply(error.reply)
            case .success(var workingSet): reply(workingSet.run(command))
            }
        }
    }

    /// WATCH: the mod revision of each key now (0 for an absent one), for EXEC to compare against.
    func watch(_ keys: [[UInt8]], then done: @escaping @Sendable (Result<[[UInt8]: Revision], RedisReplyError>) -> Void)
    {
        readKeys(keys, linearizable: true) { result in done(result.map(\.observed)) }
    }

    // MARK: Blind writes

    /// Whether `command` writes without reading: SET with at most EX or PX, and MSET, of strings the port may store
    /// (`RedisWorkingSet.checkedString` refuses the others).
    static func isBlindWrite(_ command: RedisCommand) -> Bool {
        let values = stride(from: 1, to: command.arguments.count, by: 2).lazy.map { command.arguments[$0] }
        guard !values.contains(where: RedisTypedValue.isTyped) else { return false }
        switch command.name {
        case "MSET": return command.arguments.count % 2 == 0
        case "SET":
            switch command.arguments.count {
            case 2: return true
            case 4: return ["EX", "PX"].contains(command.option(2)) && (Int64(command.argument(3)) ?? 0) > 0
            default: return false
            }
        default: return false
        }
    }

    /// Writes a blind write (see `isBlindWrite`) without reading first. A TTL gets its own lease: the grant and
    /// the put are proposed back to back, and the log keeps their order; if the grant failed, the put fails too.
    func blindWrite(_ command: RedisCommand, reply: @escaping Reply) {
        let arguments = command.arguments
        guard command.name == "SET" else {
            let puts = stride(from: 0, to: arguments.count, by: 2).map {
                TransactionOperation.put(PutRequest(key: arguments[$0], value: arguments[$0 + 1], prevKV: true))
            }
            backend.write(.transaction(TransactionRequest(compare: [], success: puts))) { outcome in
                guard case .result(.transaction(let response)) = outcome else { return reply(self.errorReply(outcome)) }
                for case .put(let put) in response.responses { self.releaseIfEmpty(put.prevKV?.lease) }
                reply(.ok)
            }
            return
        }
        var lease: LeaseID?
        if arguments.count == 4, let amount = UInt64(command.argument(3)) {
            let ttl = command.option(2) == "EX" ? LeaseTTL(seconds: amount) : LeaseTTL(milliseconds: amount)
            let id = makeLeaseID()
            backend.write(.leaseGrant(id: id, ttl: ttl, grantedAt: 0)) { _ in }
            lease = id
        }
        let newLease = lease
        backend.write(.put(PutRequest(key: arguments[0], value: arguments[1], lease: newLease, prevKV: true))) {
            outcome in
            guard case .result(.put(let put)) = outcome else {
                self.releaseIfEmpty(newLease)
                return reply(self.errorReply(outcome))
            }
            if put.prevKV?.lease != newLease { self.releaseIfEmpty(put.prevKV?.lease) }
            reply(.ok)
        }
    }

    /// Deletes every key of the Redis keyspace in one transaction, around the keys the cluster keeps for itself.
    /// Leases whose keys are gone stay until they expire.
    func deleteEveryKey(then done: @escaping @Sendable (Result<Void, RedisReplyError>) -> Void) {
        let deletions = RedisWorkingSet.everyKeyDeletions
        backend.write(.transaction(TransactionRequest(compare: [], success: deletions))) { outcome in
            guard case .result(.transaction) = outcome else {
                return done(.failure(RedisReplyError(self.errorReply(outcome))))
            }
            done(.success(()))
        }
    }

    // MARK: Read-modify-write

    /// Runs `commands` atomically: one read of every key they touch, one store transaction of their writes
    /// (compared against what was read, and against `watched` mod revisions). Answers each command's reply, or
    /// nil when a watched key changed (EXEC's null reply).
    func transaction(
        _ commands: [RedisCommand], watched: [[UInt8]: Revision] = [:], scripting: RedisScripting? = nil,
        reply: @escaping @Sendable (Result<[RESPValue]?, RedisReplyError>) -> Void
    ) {
        let keys = Self.eachOnce(
            commands.flatMap(Self.keys(of:)) + watched.keys.sorted { $0.lexicographicallyPrecedes($1) })
        if commands.count == 1, watched.isEmpty, keys.contains(where: { busyKeys[$0] != nil }) {
            return join(commands[0], keys: keys, reply: reply)
        }
        compute(
            keys: keys, watched: watched, withKeyspace: Self.readKeyspace(commands), reply: reply,
            body: Self.running(commands, scripting: scripting))
    }

    /// The keys `command` touches: its key spec's, or a script's declared KEYS.
    static func keys(of command: RedisCommand) -> [[UInt8]] {
        guard RedisCommandTable.lookup(command.name)?.kind == .script else {
            return RedisCommandTable.keys(of: command)
        }
        return (try? RedisScripting.invocation(of: command).get())?.keys ?? []
    }

    /// The computation of `commands`, run in order against the working set, each seeing the ones before; scripts
    /// (queued in MULTI) run on `scripting`'s thread in their turn, and one that fails leaves the working set as it
    /// found it, as outside MULTI.
    private static func running(_ commands: [RedisCommand], scripting: RedisScripting? = nil) -> Computation {
        { workingSet, done in
            @Sendable func run(from start: Int, _ workingSet: RedisWorkingSet, _ replies: [RESPValue]) {
                var (workingSet, replies, index) = (workingSet, replies, start)
                while index < commands.count, RedisCommandTable.lookup(commands[index].name)?.kind != .script {
                    replies.append(workingSet.run(commands[index]))
                    index += 1
                }
                guard index < commands.count else { return done(workingSet, replies, false) }
                let invocation: RedisScripting.Invocation
                switch RedisScripting.invocation(of: commands[index]) {
                case .success(let parsed): invocation = parsed
                case .failure(let error): return run(from: index + 1, workingSet, replies + [error.reply])
                }
                guard let scripting else {
                    return run(from: index + 1, workingSet, replies + [.error("ERR scripts cannot run here")])
                }
                let (next, earlier) = (index + 1, replies)
                scripting.run(invocation, on: workingSet) { script in
                    run(from: next, script.workingSet, earlier + [script.reply])
                }
            }
            run(from: 0, workingSet, [])
        }
    }

    /// Whether `commands` need the keyspace read into the working set: KEYS, SCAN, DBSIZE and FLUSHDB queued in
    /// MULTI work on the keyspace as read, with the block's writes.
    private static func readKeyspace(_ commands: [RedisCommand]) -> Bool {
        commands.contains { [.keyspace, .flush].contains(RedisCommandTable.lookup($0.name)?.kind) }
    }

    private static func eachOnce(_ keys: [[UInt8]]) -> [[UInt8]] {
        var seen = Set<[UInt8]>()
        return keys.filter { seen.insert($0).inserted }
    }

    /// Runs a Lua script atomically, as `transaction` runs commands: its declared `keys` read into a working set, the
    /// script run against it (`RedisScripting`), its writes one compared transaction; rerun from scratch when a key
    /// changed under it, so a script must decide the same on the same data. A script that failed writes nothing.
    func script(_ invocation: RedisScripting.Invocation, scripting: RedisScripting, reply: @escaping Reply) {
        compute(keys: Self.eachOnce(invocation.keys), watched: [:], withKeyspace: false) { result in
            switch result {
            case .success(let replies): reply(replies?.first ?? .null)
            case .failure(let error): reply(error.reply)
            }
        } body: { workingSet, done in
            scripting.run(invocation, on: workingSet) { run in done(run.workingSet, [run.reply], run.conclusive) }
        }
    }

    /// Computes replies and writes from a working set of `keys`, which `body` answers (on the event loop), and whether
    /// the replies stand whatever the data was (then an outcome that writes nothing is not computed again from a
    /// linearizable read).
    typealias Computation =
        @Sendable (RedisWorkingSet, @escaping @Sendable (RedisWorkingSet, [RESPValue], Bool) -> Void) -> Void

    /// - Parameter keys: each once.
    private func compute(
        keys: [[UInt8]], watched: [[UInt8]: Revision], withKeyspace: Bool,
        reply: @escaping @Sendable (Result<[RESPValue]?, RedisReplyError>) -> Void, body: @escaping Computation
    ) {
        lock(keys) {
            // This node's state first: usually current (and free) on the leader, and the comparisons catch it when it
            // is not. A retry, or an outcome that writes nothing, reads linearizably.
            self.attempt(
                body, keys: keys, watched: watched, withKeyspace: withKeyspace, number: 1, linearizable: false
            ) { result in
                self.unlock(keys)
                reply(result)
            }
        }
    }

    /// A command whose keys are busy joins the batch of commands waiting for exactly those keys, or starts one.
    /// A batch runs as one transaction: each command sees the ones before it, as in MULTI, and each gets its own
    /// reply. Fifty clients on one hot key (a queue, a counter) thus share one log round trip instead of taking
    /// one each in turn; each command still takes effect at one point between its arrival and its reply.
    private func join(
        _ command: RedisCommand, keys: [[UInt8]],
        reply: @escaping @Sendable (Result<[RESPValue]?, RedisReplyError>) -> Void
    ) {
        if let batch = waitingBatches[keys], batch.commands.count < Self.batchCommandsMax {
            batch.commands.append(command)
            batch.replies.append(reply)
            return
        }
        let batch = Batch(command, reply)
        waitingBatches[keys] = batch
        lock(keys) {
            if self.waitingBatches[keys] === batch { self.waitingBatches[keys] = nil }
            self.attempt(
                Self.running(batch.commands), keys: keys, watched: [:], withKeyspace: false, number: 1,
                linearizable: false
            ) { result in
                self.unlock(keys)
                for (index, reply) in batch.replies.enumerated() {
                    reply(result.map { replies in replies.map { [$0[index]] } })
                }
            }
        }
    }

    private func attempt(
        _ body: @escaping Computation, keys: [[UInt8]], watched: [[UInt8]: Revision], withKeyspace: Bool, number: Int,
        linearizable: Bool, done: @escaping @Sendable (Result<[RESPValue]?, RedisReplyError>) -> Void
    ) {
        guard number <= Self.attemptsMax else {
            return done(.failure(RedisReplyError("TRYAGAIN the keys kept changing under the command; retry")))
        }
        readWorkingSet(keys, linearizable: linearizable, withKeyspace: withKeyspace) { result in
            guard case .success(let workingSet) = result else {
                if case .failure(let error) = result { done(.failure(error)) }
                return
            }
            if watched.contains(where: { workingSet.observed[$0.key] != $0.value }) {
                guard linearizable else {
                    return self.attempt(
                        body, keys: keys, watched: watched, withKeyspace: withKeyspace, number: number,
                        linearizable: true,
                        done: done)
                }
                return done(.success(nil))
            }
            body(workingSet) { workingSet, replies, conclusive in
                self.commit(
                    workingSet, replies: replies, conclusive: conclusive, body: body, keys: keys, watched: watched,
                    withKeyspace: withKeyspace, number: number, linearizable: linearizable, done: done)
            }
        }
    }

    private func commit(
        _ workingSet: RedisWorkingSet, replies: [RESPValue], conclusive: Bool, body: @escaping Computation,
        keys: [[UInt8]], watched: [[UInt8]: Revision], withKeyspace: Bool, number: Int, linearizable: Bool,
        done: @escaping @Sendable (Result<[RESPValue]?, RedisReplyError>) -> Void
    ) {
        if !workingSet.writesAnything {
            // Nothing to write means nothing in the log vouches for this read: only a linearizable one counts.
            guard linearizable || conclusive else {
                return attempt(
                    body, keys: keys, watched: watched, withKeyspace: withKeyspace, number: number, linearizable: true,
                    done: done)
            }
            workingSet.publications.forEach(publish)
            return done(.success(replies))
        }
        for (lease, ttl) in workingSet.grants {
            backend.write(.leaseGrant(id: lease, ttl: ttl, grantedAt: 0)) { _ in }
        }
        let unchanged = workingSet.observed.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map {
            Comparison(key: $0.key, .modRevision($0.value), .equal)
        }
        let watchedUnchanged = watched.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map {
            Comparison(key: $0.key, .modRevision($0.value), .equal)
        }
        // Nested, so that a changed watched key (EXEC answers null) is told apart from a key that changed
        // since the read (try again).
        let inner = TransactionRequest(compare: unchanged, success: workingSet.operations)
        let outer = TransactionRequest(compare: watchedUnchanged, success: [.transaction(inner)])
        let released = workingSet.leasesToRelease
        let granted = Set(workingSet.grants.keys)
        backend.write(.transaction(outer)) { outcome in
            guard case .result(.transaction(let response)) = outcome else {
                granted.forEach(self.releaseIfEmpty)
                if case .result(.failed(.leaseNotFound(let lease))) = outcome, !granted.contains(lease) {
                    // A key kept its lease, which expired and was revoked after the read: read again.
                    return self.attempt(
                        body, keys: keys, watched: watched, withKeyspace: withKeyspace, number: number + 1,
                        linearizable: true, done: done)
                }
                return done(.failure(RedisReplyError(self.errorReply(outcome))))
            }
            guard response.succeeded else {
                granted.forEach(self.releaseIfEmpty)
                return done(.success(nil))
            }
            guard case .transaction(let applied)? = response.responses.first, applied.succeeded else {
                granted.forEach(self.releaseIfEmpty)
                return self.attempt(
                    body, keys: keys, watched: watched, withKeyspace: withKeyspace, number: number + 1,
                    linearizable: true, done: done)
            }
            released.forEach(self.releaseIfEmpty)
            workingSet.publications.forEach(self.publish)
            done(.success(replies))
        }
    }

    // MARK: Blocking pops

    /// BLPOP, BRPOP: pops at once when one of the lists has an element and no client waits on its keys already;
    /// otherwise waits, without holding the loop, for a change to one of the keys to apply on this node and tries
    /// again, until `timeoutMilliseconds` (0: forever) have passed, then answers the null array. Returns what ends
    /// the wait unanswered (the connection closed), or nil when it was answered at once. Of the waiters on a key
    /// only the longest-waiting tries (one that waits on several keys tries when it is first on any of them); the
    /// compared transaction lets one pop each element even so, since a plain LPOP may race it.
    func blockingPop(_ command: RedisCommand, timeoutMilliseconds: Int64, reply: @escaping Reply)
        -> (@Sendable () -> Void)?
    {
        // A pop is a write: a node that does not lead refuses it at once, as a Redis replica does, rather than wait
        // for a push only to be refused then.
        let status = backend.status
        guard status.role == "leader" else {
            reply(errorReply(.notLeader(leader: status.leader, clientAddress: "")))
            return nil
        }
        let wait = BlockedPop(keys: RedisCommandTable.keys(of: command))
        for key in Set(wait.keys) { blockedPops[key, default: []].append(wait) }
        @Sendable func attempt() {
            guard !wait.finished, wait.keys.contains(where: { blockedPops[$0]?.first === wait }) else { return }
            guard !wait.inFlight else { return wait.changedInFlight = true }
            wait.inFlight = true
            wait.changedInFlight = false
            // Observed before the read, so that a push applied in between still wakes this waiter.
            wait.stopObserving?()
            wait.stopObserving = backend.observe(wait.keys) { attempt() }
            transaction([command]) { result in
                wait.inFlight = false
                guard !wait.finished else { return }
                switch result {
                case .success(let replies?) where replies.first != .nullArray:
                    self.end(wait)
                    reply(replies.first ?? .nullArray)
                case .success:
                    if wait.timedOut {
                        self.end(wait)
                        reply(.nullArray)
                    } else if wait.changedInFlight {
                        attempt()
                    }
                case .failure(let error):
                    self.end(wait)
                    reply(error.reply)
                }
            }
        }
        wait.attempt = attempt
        if timeoutMilliseconds > 0 {
            wait.cancelTimer = backend.schedule(in: timeoutMilliseconds) {
                guard !wait.finished else { return }
                // An attempt under way may still pop: it answers, with the element or the null array.
                guard !wait.inFlight else { return wait.timedOut = true }
                self.end(wait)
                reply(.nullArray)
            }
        }
        attempt()
        if wait.finished { return nil }
        return { self.end(wait) }
    }

    /// Ends a wait, and lets the waiters that are now first on its keys try: the one before may have left an element
    /// (several pushed at once), or given up.
    private func end(_ wait: BlockedPop) {
        guard !wait.finished else { return }
        wait.finish()
        var nowFirst: [BlockedPop] = []
        for key in Set(wait.keys) {
            blockedPops[key]?.removeAll { $0 === wait }
            guard let first = blockedPops[key]?.first else {
                blockedPops[key] = nil
                continue
            }
            if !nowFirst.contains(where: { $0 === first }) { nowFirst.append(first) }
        }
        for waiter in nowFirst { waiter.attempt?() }
    }

    // MARK: Keyspace

    /// The live keys of the Redis keyspace (cluster keys and expired keys left out; with `type`, only keys holding
    /// that type), sorted, among the first `limit` stored keys from `start` on (0: all), the key to go on from when there are more, and how many of the
    /// keys have a TTL.
    func liveKeys(
        from start: [UInt8], limit: Int, type: String? = nil,
        then done:
            @escaping @Sendable (Result<(keys: [[UInt8]], next: [UInt8]?, expiring: Int), RedisReplyError>) -> Void
    ) {
        let range = RangeRequest(
            key: start.isEmpty ? [0] : start, rangeEnd: [0], limit: limit == 0 ? 0 : limit + 1, keysOnly: type == nil)
        backend.read(range, linearizable: true) { outcome in
            switch outcome {
            case .refused(let refusal):
                done(.failure(RedisReplyError(self.errorReply(refusal))))
            case .read(let read):
                let examined = limit == 0 ? read.range.kvs[...] : read.range.kvs.prefix(limit)
                let live = examined.filter { kv in
                    guard !kv.key.starts(with: GroupRuntime.reservedKeyPrefix) else { return false }
                    if let type, RedisTypedValue.typeName(of: kv.value) != type { return false }
                    guard let lease = kv.lease else { return true }
                    return (read.deadlines[lease] ?? 0) > read.now
                }
                let next = limit > 0 && read.range.kvs.count > limit ? read.range.kvs[limit].key : nil
                done(.success((live.map(\.key), next, live.filter { $0.lease != nil }.count)))
            }
        }
    }

    // MARK: Helpers

    /// `readKeys`, and the live keys of the keyspace into the working set when `withKeyspace`.
    private func readWorkingSet(
        _ keys: [[UInt8]], linearizable: Bool, withKeyspace: Bool,
        then done: @escaping @Sendable (Result<RedisWorkingSet, RedisReplyError>) -> Void
    ) {
        readKeys(keys, linearizable: linearizable) { result in
            guard withKeyspace, case .success(let workingSet) = result else { return done(result) }
            self.liveKeys(from: [], limit: 0) { live in
                switch live {
                case .failure(let error): done(.failure(error))
                case .success(let page):
                    var withKeys = workingSet
                    withKeys.keyspace = Set(page.keys)
                    done(.success(withKeys))
                }
            }
        }
    }

    /// Reads each key (one range read per key: the engine shares one ReadIndex round among reads of a turn)
    /// into a working set, with the latest clock any of the reads reported.
    private func readKeys(
        _ keys: [[UInt8]], linearizable: Bool,
        then done: @escaping @Sendable (Result<RedisWorkingSet, RedisReplyError>) -> Void
    ) {
        let join = ReadJoin(count: keys.count)
        let (makeLeaseID, valueBytesMax) = (makeLeaseID, valueBytesMax)
        let finish: @Sendable () -> Void = {
            if let error = join.error { return done(.failure(error)) }
            var workingSet = RedisWorkingSet(now: join.now, valueBytesMax: valueBytesMax, makeLeaseID: makeLeaseID)
            for (key, kv) in zip(keys, join.values) {
                workingSet.load(key, kv, deadline: kv?.lease.flatMap { join.deadlines[$0] })
            }
            done(.success(workingSet))
        }
        guard !keys.isEmpty else { return finish() }
        for (index, key) in keys.enumerated() {
            backend.read(RangeRequest(key: key), linearizable: linearizable) { outcome in
                switch outcome {
                case .refused(let refusal): join.fail(RedisReplyError(self.errorReply(refusal)))
                case .read(let read): join.record(index, read)
                }
                if join.isComplete { finish() }
            }
        }
    }

    /// Revokes a lease once it holds no key: the port gives every key with a TTL its own lease, and an
    /// overwrite, PERSIST or DEL leaves the old one empty. A KV API lease that still holds keys is left alone.
    func releaseIfEmpty(_ lease: LeaseID?) {
        guard let lease, backend.leaseKeyCount(lease) == 0 else { return }
        backend.write(.leaseRevoke(lease)) { _ in }
    }

    /// The RESP error for a refused request.
    func errorReply(_ outcome: ClientResponse.Outcome) -> RESPValue {
        switch outcome {
        case .notLeader(let leader, let address):
            guard let leader else { return .error("TRYAGAIN no leader is known right now (an election is on); retry") }
            // Its Redis address, learned from its hello; else its client address, which is all the engine knows.
            let at =
                backend.redisAddress(of: leader).map { " at \($0)" }
                ?? (address.isEmpty ? "" : " (clients: \(address))")
            return .error(
                "READONLY You can't write against a read only replica. The leader is node \(leader.rawValue)\(at).")
        case .unavailable(let message):
            return .error("TRYAGAIN \(message)")
        case .failed(let message):
            return .error("ERR \(message)")
        case .result(.failed(.keyMoved(let key, let group))):
            // Released during a move: the client asks the target once, as Redis Cluster's ASK says. Once the map
            // names the target, routing answers MOVED before a command gets here.
            let slot = HashSlot(key: key).rawValue
            guard let address = backend.redisLeaderAddress(of: group) else {
                return .error("TRYAGAIN hash slot \(slot) is moving to group \(group.rawValue), which has no leader")
            }
            return .error("ASK \(slot) \(address)")
        case .result(.failed(.keyImporting)):
            return .error("TRYAGAIN the key is being moved; retry")
        case .result(.failed(.keyNotServed)):
            return .error("TRYAGAIN the shard map is changing; retry")
        case .result(.failed(let error)):
            return .error("ERR \(error)")
        default:
            return .error("ERR unexpected answer from the node: \(outcome)")
        }
    }

    private func lock(_ keys: [[UInt8]], then body: @escaping @Sendable () -> Void) {
        if let busy = keys.first(where: { busyKeys[$0] != nil }) {
            busyKeys[busy, default: []].append { self.lock(keys, then: body) }
            return
        }
        for key in keys { busyKeys[key] = [] }
        body()
    }

    private func unlock(_ keys: [[UInt8]]) {
        var waiters: [@Sendable () -> Void] = []
        for key in keys { waiters += busyKeys.removeValue(forKey: key) ?? [] }
        for waiter in waiters { waiter() }
    }
}

/// A reply that ends a command early: an error the node gave, in RESP form.
struct RedisReplyError: Error {
    let reply: RESPValue
    init(_ reply: RESPValue) { self.reply = reply }
    init(_ message: String) { self.reply = .error(message) }
}

/// Collects the answers of the per-key reads of one command.
private final class ReadJoin: @unchecked Sendable {
    // @unchecked Sendable: used only on the runtime's event loop, like the executor.
    private var remaining: Int
    private(set) var values: [KeyValue?]
    private(set) var deadlines: [LeaseID: StoreTime] = [:]
    private(set) var now = StoreTime(milliseconds: 0)
    private(set) var error: RedisReplyError?

    init(count: Int) {
        remaining = count
        values = Array(repeating: nil, count: count)
    }

    var isComplete: Bool { remaining == 0 }

    func record(_ index: Int, _ read: LeasedRange) {
        values[index] = read.range.kvs.first
        deadlines.merge(read.deadlines) { first, _ in first }
        // The latest clock hides the most expired keys: the conservative choice.
        now = max(now, read.now)
        remaining -= 1
    }

    func fail(_ error: RedisReplyError) {
        if self.error == nil { self.error = error }
        remaining -= 1
    }
}

/// One waiting BLPOP or BRPOP (`RedisExecutor.blockingPop`).
private final class BlockedPop: @unchecked Sendable {
    // @unchecked Sendable: used only on the runtime's event loop, like the executor.
    let keys: [[UInt8]]
    /// Tries to pop, if this waiter is first on one of its keys; nil once finished.
    var attempt: (@Sendable () -> Void)?
    var finished = false
    var inFlight = false
    /// A watched key changed while an attempt was under way: try again when it ends empty-handed.
    var changedInFlight = false
    var timedOut = false
    var stopObserving: (@Sendable () -> Void)?
    var cancelTimer: (@Sendable () -> Void)?

    init(keys: [[UInt8]]) { self.keys = keys }

    func finish() {
        finished = true
        stopObserving?()
        cancelTimer?()
        stopObserving = nil
        cancelTimer = nil
        attempt = nil
    }
}

/// Commands on the same keys that wait together and run as one transaction (`RedisExecutor.join`).
private final class Batch: @unchecked Sendable {
    // @unchecked Sendable: used only on the runtime's event loop, like the executor.
    var commands: [RedisCommand]
    var replies: [@Sendable (Result<[RESPValue]?, RedisReplyError>) -> Void]

    init(_ command: RedisCommand, _ reply: @escaping @Sendable (Result<[RESPValue]?, RedisReplyError>) -> Void) {
        commands = [command]
        replies = [reply]
    }
}
