import DequeModule
import QuorumWire

/// Serves one Redis connection, on the node's event loop: its socket is read, decoded, encoded and written on a
/// client loop by a `RedisSocketHandler`, which hands over decoded commands and takes the replies. Commands may be
/// pipelined: several are in flight at once, and replies go out in the order the commands came. What may overlap
/// follows from what each command does to the store, so that a connection always sees its own writes:
///
/// - blind writes (SET, MSET) enter the log at once, in order, behind earlier blind writes (many may be in
///   flight), but wait for earlier reads: a read answers with the state when it is served, which could
///   otherwise already hold a later write of the same connection;
/// - reads wait for the connection's earlier writes to finish, then read (many reads may be in flight);
/// - read-modify-write commands (and EXEC) wait until everything before them finished.
///
/// Back-pressure: no command starts while `inFlightMax` replies are held (unanswered, or not yet taken by the kernel),
/// and the socket stops reading while `inFlightMax` commands it handed over have not started. A protocol error is
/// answered `-ERR Protocol error: ...` once the replies before it went out, and then the connection is closed, as
/// Redis does.
final class RedisConnection: @unchecked Sendable {
    // @unchecked Sendable: runs on the node's event loop; the socket and every callback call it there.

    /// Replies held, and commands handed over but not started, per connection (redis-benchmark -P 16 keeps 16).
    static let inFlightMax = 128

    private let router: RedisRouter
    private var session: RedisSession
    private let socket: RedisSocketHandler
    /// The socket was told to close, or closed: nothing more is written.
    private var socketClosed = false
    /// Replies handed to the socket and not yet known to be taken by the kernel. With those here, at most
    /// `inFlightMax` are held: no further command starts until some are written, so a client that never reads costs
    /// that many replies, not one per command it sent.
    private var repliesAtSocket = 0
    /// Commands started since the socket was last told: it counts what it handed over and has not started.
    private var startedUntold = 0
    /// Commands read and not yet started, in order.
    private var waiting: Deque<RedisCommand> = []
    /// Replies of started commands, in command order; nil until the command answers. Messages for a subscriber
    /// (pushes) queue here too, so that they follow the replies of the commands before them; `pushBytes` is their
    /// size.
    private var replies: Deque<(reply: RESPValue?, protocolVersion: Int, closes: Bool, pushBytes: Int)> = []
    /// The number of the command whose reply is `replies.first`.
    private var firstReply = 0
    private var running = (reads: 0, writes: 0, exclusive: 0)
    /// The client sent ASKING; the next command may reach a group importing its slot.
    private var asking = false
    private var closing = false
    /// The client shut down its sending side (`printf ... | nc`): answer what it sent, then close.
    private var inputClosed = false
    /// Set when the input stopped making sense; its reply follows every command read before it.
    private var protocolError: RESPProtocolError?
    private var protocolErrorQueued = false
    /// Set while `startWaiting` runs: a command answered at once must not start the next one from inside it
    /// (a long pipeline of PINGs would recurse once per command), and replies are written once at the end.
    private var starting = false

    /// Who the connection authenticated as (`AUTH`, `HELLO ... AUTH`), when the cluster has authentication on.
    private var user: String?
    /// A password is being checked (off the loop) for the AUTH or HELLO first in `waiting`: nothing after it starts
    /// until it is done, as Redis runs a connection's commands one by one.
    private var authenticating = false
    /// The check's outcome, taken by the AUTH or HELLO when it runs.
    private var checkedCredentials: (user: String, refusal: RESPValue?)?

    /// Ends this connection's waiting BLPOP or BRPOP, if one is waiting.
    private var endBlockedPop: (@Sendable () -> Void)? {
        didSet { router.clients.setBlocked(session.id, endBlockedPop != nil) }
    }
    /// What CLIENT LIST says of this connection.
    private var description: RedisClientDescription
    /// The channels and patterns this connection subscribed to.
    private var subscriptions = RedisSubscriptions()
    /// Bytes of messages for this subscriber queued or written but not yet taken by its socket.
    private var unsentPushBytes = 0
    /// A subscriber that leaves this much unread is disconnected, as Redis's `client-output-buffer-limit pubsub`
    /// hard limit does: a publisher must not make the node buffer without bound for a client that does not read.
    static let unsentPushBytesMax = 32 << 20

    /// A subscriber waits silently for messages, and a blocked BLPOP for a push: the idle timeout spares both, as
    /// Redis's does.
    var waitsByDesign: Bool { subscriptions.total > 0 || endBlockedPop != nil }

    /// Called on the socket's loop: it only stores what it is given, and `start()` runs on the node's loop.
    init(router: RedisRouter, id: Int64, socket: RedisSocketHandler, address: String, localAddress: String) {
        self.router = router
        self.socket = socket
        let clients = router.clients
        self.session = RedisSession(
            id: id, clusterInfo: { router.shardMap == nil ? nil : router.clusterInfo },
            clientCounts: { clients.counts })
        let now = ContinuousClock.now
        description = RedisClientDescription(
            id: id, address: address, localAddress: localAddress, name: nil, connectedAt: now, lastCommandAt: now,
            lastCommand: "NULL", inMulti: false, queued: 0, protocolVersion: 2)
    }

    func start() {
        router.clients.add(session.id) { [weak self] in self?.clientLine ?? "" }
    }

    /// The socket closed: what is waiting never starts, and a blocked pop or a subscription ends.
    func end() {
        closing = true
        socketClosed = true
        endBlockedPop?()
        endBlockedPop = nil
        waiting.removeAll()
        router.clients.remove(session.id)
        unsubscribeAll()
    }

    private var clientLine: String {
        var current = description
        current.name = session.name
        current.inMulti = session.inMulti
        current.queued = session.queued?.count ?? 0
        current.isBlocked = endBlockedPop != nil
        current.protocolVersion = session.protocolVersion
        current.channels = subscriptions.names(.channel).count
        current.patterns = subscriptions.names(.pattern).count
        current.shardChannels = subscriptions.names(.shard).count
        return current.line(now: .now)
    }

    /// Values the socket decoded, in order, and what it wrote since it last said (see `written`).
    func receive(_ values: [RESPValue], written: RedisSocketHandler.Written) {
        account(written)
        for value in values {
            guard !closing, protocolError == nil else { break }
            guard let command = RedisCommand(value) else {
                refuse(RESPProtocolError("expected an array of bulk strings"))
                break
            }
            waiting.append(command)
            startWaiting()
        }
    }

    /// The client shut down its sending side: what it sent is answered, then the connection closes.
    func inputEnded() {
        inputClosed = true
        flush()
    }

    /// Nothing came for the idle timeout (Redis's `timeout`): the connection is closed and counted, unless it waits
    /// silently by design (a subscriber, a blocked pop), as Redis spares them.
    func idle() {
        guard !waitsByDesign, !socketClosed else { return }
        router.host.metrics.redisIdleClosed.increment()
        closing = true
        socketClosed = true
        socket.close()
    }

    /// The socket handed replies to the kernel. It says so with the next commands it hands over, or on its own once
    /// enough add up (this may then be what lets the next command start).
    func written(_ written: RedisSocketHandler.Written) {
        account(written)
        startWaiting()
    }

    private func account(_ written: RedisSocketHandler.Written) {
        repliesAtSocket -= written.replies
        unsentPushBytes -= written.pushBytes
    }

    /// Replies held, answered or not, and waiting commands: what `inFlightMax` bounds.
    private var held: Int { replies.count + repliesAtSocket }

    /// Answers the error once the commands before it are answered, then closes: nothing after a protocol error
    /// is trusted, but what came before it was well-formed and is served as Redis would.
    func refuse(_ error: RESPProtocolError) {
        guard !closing, protocolError == nil else { return }
        protocolError = error
        startWaiting()
    }

    private enum Phase { case immediate, read, write, exclusive }

    private func phase(of command: RedisCommand) -> Phase {
        if session.inMulti, !RedisSession.unqueued.contains(command.name) { return .immediate }
        guard RedisCommandTable.arityHolds(command), let kind = RedisCommandTable.lookup(command.name)?.kind else {
            return .immediate
        }
        switch kind {
        case .connection:
            return command.name == "WATCH" ? .read : (command.name == "EXEC" ? .exclusive : .immediate)
        case .read, .keyspace: return .read
        case .flush: return .exclusive
        case .readWrite: return RedisExecutor.isBlindWrite(command) ? .write : .exclusive
        // SCRIPT answers from the node's script cache (or compiles); EVAL and its kin read and write.
        case .script: return command.name == "SCRIPT" ? .immediate : .exclusive
        case .pubSub: return .immediate
        }
    }

    /// Starts the waiting commands, in order, as far as each may overlap with those still running.
    private func startWaiting() {
        guard !starting else { return }
        starting = true
        defer { starting = false }
        // Commands answered at once can fill the replies; once handed to the socket, more may start.
        while startCommands() == .atReplyLimit {
            flush()
            guard held < Self.inFlightMax else { return }
        }
        flush()
    }

    private enum Stop { case done, atReplyLimit }

    private func startCommands() -> Stop {
        while let command = waiting.first, !closing, !authenticating {
            guard held < Self.inFlightMax else { return .atReplyLimit }
            if checkPassword(of: command) { return .done }
            let phase = phase(of: command)
            switch phase {
            case .immediate: break
            case .read: guard running.writes == 0, running.exclusive == 0 else { return .done }
            case .write: guard running.reads == 0, running.exclusive == 0 else { return .done }
            case .exclusive: guard running.reads == 0, running.writes == 0, running.exclusive == 0 else { return .done }
            }
            waiting.removeFirst()
            startedUntold += 1
            if RedisSubscriptions.commands.contains(command.name), !session.inMulti,
                RedisCommandTable.arityHolds(command)
            {
                // One reply per channel or pattern.
                router.clients.processed()
                for reply in changeSubscriptions(command) {
                    replies.append((reply, session.protocolVersion, false, 0))
                }
                continue
            }
            // Nothing after QUIT runs; its reply is the last one, and the connection closes after it.
            if command.name == "QUIT" { closing = true }
            let number = firstReply + replies.count
            replies.append((nil, session.protocolVersion, command.name == "QUIT", 0))
            count(phase, by: 1)
            execute(command) { reply in
                self.count(phase, by: -1)
                self.answer(number, reply)
            }
            // HELLO answers in the protocol it switches to, as Redis does.
            if command.name == "HELLO", number - firstReply < replies.count, number >= firstReply {
                replies[number - firstReply].protocolVersion = session.protocolVersion
            }
        }
        // After every command read before it, once they all started.
        if let protocolError, !protocolErrorQueued, waiting.isEmpty {
            protocolErrorQueued = true
            replies.append((.error("ERR \(protocolError)"), session.protocolVersion, true, 0))
        }
        return .done
    }

    /// Starts checking the password of an AUTH or HELLO about to run, when the cluster has authentication on; true
    /// while the check goes on (`startWaiting` resumes once it is done).
    private func checkPassword(of command: RedisCommand) -> Bool {
        guard checkedCredentials == nil, !session.inMulti, router.host.accessPolicy.enabled,
            let credentials = RedisAccess.credentials(in: command)
        else { return false }
        authenticating = true
        router.host.authenticate(user: credentials.user, password: credentials.password) { result in
            self.authenticating = false
            switch result {
            case .success: self.checkedCredentials = (credentials.user, nil)
            case .failure(let refusal) where refusal.message == NodeHost.catchingUp:
                self.checkedCredentials = (credentials.user, RedisAccess.catchingUp)
            case .failure: self.checkedCredentials = (credentials.user, RedisAccess.wrongPassword)
            }
            self.startWaiting()
        }
        return authenticating
    }

    private func count(_ phase: Phase, by delta: Int) {
        switch phase {
        case .immediate: break
        case .read: running.reads += delta
        case .write: running.writes += delta
        case .exclusive: running.exclusive += delta
        }
    }

    private func answer(_ number: Int, _ reply: RESPValue) {
        router.clients.processed()
        let index = number - firstReply
        guard index >= 0, index < replies.count else { return }
        replies[index].reply = reply
        guard !starting else { return }
        flush()
        startWaiting()
    }

    /// Hands the socket every reply that is ready and has no unanswered command before it.
    private func flush() {
        guard !socketClosed else { return }
        var ready: [RedisSocketHandler.Reply] = []
        var closes = false
        var pushBytes = 0
        while let first = replies.first, let reply = first.reply {
            ready.append((reply, first.protocolVersion))
            pushBytes += first.pushBytes
            replies.removeFirst()
            firstReply += 1
            if first.closes {
                closes = true
                break
            }
        }
        closes = closes || (inputClosed && waiting.isEmpty && replies.isEmpty)
        if closes {
            closing = true
            socketClosed = true
        }
        guard !ready.isEmpty || closes else { return }
        repliesAtSocket += ready.count
        socket.send(ready, pushBytes: pushBytes, started: startedUntold, thenClose: closes)
        startedUntold = 0
    }

    private func execute(_ command: RedisCommand, reply: @escaping RedisExecutor.Reply) {
        // As Redis names them in CLIENT LIST: "client|list" for a command with subcommands.
        let hasSubcommands =
            ["CLIENT", "CONFIG", "CLUSTER", "COMMAND"].contains(command.name) && !command.arguments.isEmpty
        description.lastCommand = command.displayName + (hasSubcommands ? "|" + command.argument(0).lowercased() : "")
        description.lastCommandAt = .now
        // ASKING lets exactly the next command reach a group importing its slot.
        let asked = asking
        asking = false
        let policy = router.host.accessPolicy
        guard router.host.accessReady || RedisAccess.allowedBeforeAuthentication.contains(command.name) else {
            return reply(RedisAccess.catchingUp)
        }
        if let refusal = RedisAccess.refusal(of: command, by: user, policy: policy) {
            let who = user.map { "user '\($0)'" } ?? "an unauthenticated client"
            router.host.noteDenied("redis \(command.displayName) by \(who)")
            if session.inMulti { session.failQueueing() }
            return reply(refusal)
        }
        if let checked = checkedCredentials {
            checkedCredentials = nil
            if let refusal = checked.refusal { return reply(refusal) }
            user = checked.user
            if command.name == "AUTH" { return reply(.ok) }
            return reply(answerConnection(RedisAccess.withoutCredentials(command)))
        }
        if session.inMulti, !RedisSession.unqueued.contains(command.name) {
            if policy.enabled, command.name == "AUTH" || command.name == "HELLO" {
                session.failQueueing()
                return reply(.error("ERR \(command.name) is not supported inside MULTI by Quorum"))
            }
            return reply(session.enqueue(command))
        }
        guard let kind = RedisCommandTable.lookup(command.name)?.kind else {
            return reply(session.answer(command, status: router.status) ?? command.unknownError)
        }
        guard RedisCommandTable.arityHolds(command) else { return reply(command.arityError) }
        let protocolVersion = session.protocolVersion
        if let refusal = subscriptions.refusal(of: command, protocolVersion: protocolVersion) { return reply(refusal) }
        if let pong = subscriptions.ping(command, protocolVersion: protocolVersion) { return reply(pong) }
        if command.name == "RESET" {
            unsubscribeAll()
            // As Redis's RESET, the connection is no one's again.
            user = nil
        }
        switch kind {
        case .connection:
            switch command.name {
            case "EXEC": exec(reply: reply)
            case "WATCH": watch(command, reply: reply)
            case "INFO":
                router.keyspaceCounts { result in
                    switch result {
                    case .success(let counts):
                        reply(self.session.info(command, status: self.router.status, keyspace: counts))
                    case .failure(let error): reply(error.reply)
                    }
                }
            default: reply(answerConnection(command))
            }
        case .read:
            guard let executor = executor(for: RedisCommandTable.keys(of: command), asking: asked, reply: reply)
            else { return }
            executor.read(command, reply: reply)
        case .readWrite:
            guard let executor = executor(for: RedisCommandTable.keys(of: command), asking: asked, reply: reply)
            else { return }
            if RedisExecutor.isBlindWrite(command) { return executor.blindWrite(command, reply: reply) }
            if command.name == "BLPOP" || command.name == "BRPOP" {
                let timeout: Int64
                do {
                    timeout = try RedisWorkingSet.blockingTimeout(command.arguments[command.arguments.count - 1])
                } catch {
                    return reply(error.reply)
                }
                // Answered at once (an element was there, or the node does not lead), it returns nil: no wait.
                endBlockedPop = executor.blockingPop(command, timeoutMilliseconds: timeout) { answer in
                    self.endBlockedPop = nil
                    reply(answer)
                }
                return
            }
            executor.transaction([command]) { result in
                switch result {
                case .success(let replies): reply(replies?.first ?? .null)
                case .failure(let error): reply(error.reply)
                }
            }
        case .keyspace:
            keyspace(command, reply: reply)
        case .script:
            script(command, asking: asked, reply: reply)
        case .pubSub:
            reply(answerConnection(command))
        case .flush:
            // ASYNC and SYNC make no difference here: the deletion is one entry in the log either way.
            guard
                command.arguments.isEmpty
                    || (command.arguments.count == 1 && ["ASYNC", "SYNC"].contains(command.option(0)))
            else { return reply(.syntaxError) }
            router.flushLedGroups { result in
                switch result {
                case .success: reply(.ok)
                case .failure(let error): reply(error.reply)
                }
            }
        }
    }

    /// The executor of the group that serves these keys here; otherwise answers where they are served (MOVED) or
    /// why not (CROSSSLOT, CLUSTERDOWN), and returns nil.
    private func executor(for keys: [[UInt8]], asking: Bool = false, reply: RedisExecutor.Reply) -> RedisExecutor? {
        switch router.route(keys: keys, asking: asking) {
        case .executor(let executor): return executor
        case .refused(let refusal):
            reply(refusal)
            return nil
        }
    }

    /// A command answered by the connection itself (no store access), outside MULTI or inside EXEC.
    private func answerConnection(_ command: RedisCommand) -> RESPValue {
        switch command.name {
        case "CLUSTER": return router.cluster(command)
        case "ACL": return RedisAccess.acl(command, user: user, policy: router.host.accessPolicy)
        case "CLIENT" where command.option(0) == "LIST":
            return .verbatimString(format: "txt", text: Array(router.clients.list.utf8))
        case "CLIENT" where command.option(0) == "INFO":
            return .verbatimString(format: "txt", text: Array((clientLine + "\n").utf8))
        case "PUBLISH", "SPUBLISH":
            let sharded = command.name == "SPUBLISH"
            if sharded, case .refused(let refusal) = router.route(keys: [command.arguments[0]]) { return refusal }
            let publication = Publication(
                channel: command.arguments[0], message: command.arguments[1], sharded: sharded)
            return .integer(Int64(router.publish(publication)))
        case "PUBSUB":
            return router.pubSub.answer(command)
        // A cluster client sends ASKING after an ASK redirect, before the command for a slot being moved here.
        // READONLY asks to read from replicas; reads always go to the leader here, so it changes nothing.
        case "ASKING", "READONLY", "READWRITE":
            guard router.shardMap != nil else { return .error("ERR This instance has cluster support disabled") }
            asking = command.name == "ASKING"
            return .ok
        default: return session.answer(command, status: router.status) ?? command.unknownError
        }
    }

    /// EXEC: the queued commands that reach the store run as one transaction; those the connection answers itself
    /// (PING, ECHO, CLIENT, INFO, ...) are answered in their place once it applied. A changed watched key answers
    /// Redis's null array.
    private func exec(reply: @escaping RedisExecutor.Reply) {
        switch session.takeTransaction() {
        case .failure(let error):
            reply(error.reply)
        case .success(let transaction):
            let isConnection: @Sendable (RedisCommand) -> Bool = {
                [.connection, .pubSub].contains(RedisCommandTable.lookup($0.name)?.kind)
            }
            let stored = transaction.commands.filter { !isConnection($0) }
            let keys = stored.flatMap(RedisExecutor.keys(of:)) + transaction.watched.keys
            guard let executor = executor(for: keys, reply: reply) else { return }
            executor.transaction(stored, watched: transaction.watched, scripting: router.scripting) { result in
                switch result {
                case .success(nil): reply(.nullArray)
                case .success(let replies?):
                    var storedReplies = replies[...]
                    reply(
                        .array(
                            transaction.commands.map { command in
                                isConnection(command)
                                    ? self.answerConnection(command) : storedReplies.popFirst() ?? .null
                            }))
                case .failure(let error): reply(error.reply)
                }
            }
        }
    }

    /// EVAL script numkeys key... arg..., EVALSHA sha1 numkeys ..., their _RO forms, and SCRIPT.
    private func script(_ command: RedisCommand, asking: Bool, reply: @escaping RedisExecutor.Reply) {
        let scripting = router.scripting
        if command.name == "SCRIPT" { return scriptCommand(command, scripting: scripting, reply: reply) }
        if let unavailable = scripting.unavailable { return reply(unavailable) }
        let invocation: RedisScripting.Invocation
        switch RedisScripting.invocation(of: command) {
        case .success(let parsed): invocation = parsed
        case .failure(let error): return reply(error.reply)
        }
        if case .sha(let sha) = invocation.script, !scripting.isKnown(sha) { return reply(RedisScripting.noScript) }
        if let busy = scripting.busy { return reply(busy) }
        guard let executor = executor(for: invocation.keys, asking: asking, reply: reply) else { return }
        executor.script(invocation, scripting: scripting, reply: reply)
    }

    /// SCRIPT LOAD, EXISTS, FLUSH and KILL.
    private func scriptCommand(
        _ command: RedisCommand, scripting: RedisScripting, reply: @escaping RedisExecutor.Reply
    ) {
        let arguments = command.arguments
        switch command.option(0) {
        case "LOAD":
            guard arguments.count == 2 else { return reply(command.arityError) }
            if let unavailable = scripting.unavailable { return reply(unavailable) }
            if let busy = scripting.busy { return reply(busy) }
            scripting.load(arguments[1], then: reply)
        case "EXISTS":
            guard arguments.count >= 2 else { return reply(command.arityError) }
            reply(.array(arguments.dropFirst().map { .integer(scripting.exists($0) ? 1 : 0) }))
        case "FLUSH":
            guard arguments.count == 1 || (arguments.count == 2 && ["ASYNC", "SYNC"].contains(command.option(1))) else {
                return reply(.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option"))
            }
            scripting.flush()
            reply(.ok)
        case "KILL":
            reply(scripting.kill())
        default:
            reply(.error("ERR unknown subcommand '\(command.argument(0))'. Try SCRIPT HELP."))
        }
    }

    /// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their unsubscribes: the node's registry follows the connection's
    /// subscriptions. In cluster mode a shard channel is a key: SSUBSCRIBE's channels must share a slot this node
    /// serves (CROSSSLOT, MOVED), as on a Redis Cluster node.
    private func changeSubscriptions(_ command: RedisCommand) -> [RESPValue] {
        guard !subscriptions.wouldOverflow(command) else {
            return [.error("ERR a connection may hold \(RedisSubscriptions.perConnectionMax) subscriptions (Quorum)")]
        }
        if command.name == "SSUBSCRIBE", router.shardMap != nil,
            case .refused(let refusal) = router.route(keys: command.arguments)
        {
            return [refusal]
        }
        let (confirmations, changes) = subscriptions.apply(command)
        apply(changes)
        return confirmations
    }

    private func unsubscribeAll() {
        apply(subscriptions.removeAll())
    }

    private func apply(_ changes: [RedisSubscriptions.Change]) {
        let (pubSub, id) = (router.pubSub, session.id)
        for change in changes {
            switch change {
            case .subscribe(let scope, let name):
                pubSub.subscribe(id, scope, name) { [weak self] in self?.deliver($0, matching: $1) }
            case .unsubscribe(let scope, let name):
                pubSub.unsubscribe(id, scope, name)
            }
        }
    }

    /// A publication for this subscriber: queued behind the replies before it, written as soon as they are.
    private func deliver(_ publication: Publication, matching pattern: [UInt8]?) {
        guard !closing, !socketClosed else { return }
        let (channel, message) = (RESPValue.bulkString(publication.channel), RESPValue.bulkString(publication.message))
        let push: RESPValue =
            if let pattern {
                .push([.bulkString(Array("pmessage".utf8)), .bulkString(pattern), channel, message])
            } else {
                .push([.bulkString(Array((publication.sharded ? "smessage" : "message").utf8)), channel, message])
            }
        let bytes = 48 + (pattern?.count ?? 0) + publication.channel.count + publication.message.count
        guard unsentPushBytes + bytes <= Self.unsentPushBytesMax else {
            router.host.metrics.redisSubscribersTooSlow.increment()
            closing = true
            socketClosed = true
            unsubscribeAll()
            socket.close()
            return
        }
        unsentPushBytes += bytes
        replies.append((push, session.protocolVersion, false, bytes))
        if !starting { flush() }
    }

    private func watch(_ command: RedisCommand, reply: @escaping RedisExecutor.Reply) {
        guard !session.inMulti else { return reply(.error("ERR WATCH inside MULTI is not allowed")) }
        guard let executor = executor(for: command.arguments, reply: reply) else { return }
        executor.watch(command.arguments) { result in
            switch result {
            case .success(let revisions):
                self.session.watch(revisions)
                reply(.ok)
            case .failure(let error):
                reply(error.reply)
            }
        }
    }

    private func keyspace(_ command: RedisCommand, reply: @escaping RedisExecutor.Reply) {
        switch command.name {
        case "DBSIZE":
            router.liveKeysOfLedGroups { result in
                reply((try? result.get()).map { .integer(Int64($0.count)) } ?? Self.failure(result))
            }
        case "KEYS":
            let glob = RedisGlob(command.arguments[0])
            router.liveKeysOfLedGroups { result in
                reply(
                    (try? result.get()).map { .array($0.filter(glob.matches).map { .bulkString($0) }) }
                        ?? Self.failure(result))
            }
        default:
            scan(command, reply: reply)
        }
    }

    /// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]: the cursor names a position the node keeps
    /// (`RedisScanCursors`).
    private func scan(_ command: RedisCommand, reply: @escaping RedisExecutor.Reply) {
        guard let resumed = router.scanPosition(cursor: command.arguments[0]) else {
            return reply(.error("ERR invalid cursor"))
        }
        guard let (group, executor, start) = resumed else { return reply(.array([.bulkString("0"), .array([])])) }
        var glob: RedisGlob?
        var count = 10
        var type: String?
        var index = 1
        while index < command.arguments.count {
            guard index + 1 < command.arguments.count else { return reply(.syntaxError) }
            switch command.option(index) {
            case "MATCH": glob = RedisGlob(command.arguments[index + 1])
            case "COUNT":
                guard let value = Int(command.argument(index + 1)), value > 0 else {
                    return reply(Int(command.argument(index + 1)) == nil ? .notInteger : .syntaxError)
                }
                count = min(value, 100_000)
            case "TYPE": type = command.argument(index + 1).lowercased()
            default: return reply(.syntaxError)
            }
            index += 2
        }
        let (matching, router) = (glob, router)
        executor.liveKeys(from: start, limit: count, type: type) { result in
            guard case .success(let page) = result else { return reply(Self.failure(result)) }
            let keys = page.keys.filter { matching?.matches($0) ?? true }
            let cursor = router.scanCursor(group: group, next: page.next)
            reply(.array([.bulkString(cursor), .array(keys.map { .bulkString($0) })]))
        }
    }

    private static func failure<Success>(_ result: Result<Success, RedisReplyError>) -> RESPValue {
        if case .failure(let error) = result { return error.reply }
        return .error("ERR internal error")
    }
}
