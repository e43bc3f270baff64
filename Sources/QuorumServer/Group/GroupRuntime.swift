import Foundation
import Logging
import NIOCore
import QuorumConsensus
import QuorumNode
import QuorumSharding
import QuorumStorage
import QuorumStore
import QuorumWire

/// One consensus group's replica on this node: the shared node driver on the node's event loop, with real storage,
/// the node's peer connections, the group's store, watches and leases, answering clients. The `NodeHost` routes
/// ticks, peer messages, storage completions and client requests to it, all on `loop`.
final class GroupRuntime: @unchecked Sendable {
    // @unchecked Sendable: everything mutable is touched only on `loop`; each entry point asserts it.
    typealias Driver = NodeDriver<SelectedEngine, GroupLogStorage, GroupTransport, StoreMachine>
    typealias Responder = @Sendable (ClientResponse) -> Void

    /// The host outlives its groups: it drops a group before it goes.
    unowned let host: NodeHost
    let loop: any EventLoop
    let group: GroupID
    let configuration: ServerConfiguration
    let logger: Logger
    private var driver: Driver
    private var pending: [UInt64: (requestID: UInt64, waiting: Waiting, respond: Responder)] = [:]
    /// Set once the node stops serving, and then every client request is refused with it. Either its storage
    /// failed (the driver then waits forever for a write that will not complete, so the node falls silent to its
    /// peers, who elect another leader), or it learned that it was removed from the cluster.
    private var stopReason: String?
    /// Set with `stopReason` when the stop is temporary (a full disk, until the host reopens storage): requests are
    /// then refused as unavailable, so that clients retry, rather than as failed.
    private var stopIsTemporary = false
    /// Whether a committed configuration has included this node: only then does one without it mean a removal
    /// (a node started with `--join` is in none until the log brings it in). A founding voter was in the first,
    /// so a founder restarted on the log of its own committed removal knows at once.
    private var wasMember: Bool
    /// When each removed node was last told so, to tell it at most once a second however often it asks.
    private var removalNoticesSent: [NodeID: NIODeadline] = [:]
    private var nextToken: UInt64 = 0
    var metrics: NodeMetrics { host.metrics }
    /// The leader as of the last tick, to count changes.
    private var leaderSeen: NodeID?

    /// What a client is waiting for.
    private enum Waiting {
        case write
        case read(RangeRequest)
        case leases
        case shardMap
        /// A new member's address is being stored; the configuration change follows once it commits.
        case memberAddress(then: ConfigurationChange)
        case configurationChange
        /// A member's removal: once it commits, the leader tells the removed node, which may be quiescent and
        /// would otherwise never campaign, and so never hear of it.
        case removal(NodeID)
        /// A Redis-port read: answered with lease deadlines and this node's clock (`readWithLeases`).
        case leasedRead(RangeRequest, LeasedReadResponder)
        /// A backup: the store once its read index has applied, serialised off the loop (`answerBackup`).
        case backup
    }

    private let watchHub = WatchHub()
    /// Expired leases to revoke, at most 32 a tick, so that a backlog (after a long outage) is worked off steadily
    /// instead of flooding the log.
    private var leaseRevocations = LeaseRevocations(perTick: 32)
    /// The keys of the requests this replica served lately, with `--split-load`: what `spanLoad` answers from.
    private var requestLoad: RequestLoad?

    /// How far this replica had committed before it started: until it has applied that far again, its state (users
    /// and roles among it) is older than what it served before.
    private let recoveredCommit: LogIndex

    init(host: NodeHost, group: GroupID, foundingVoters: Set<NodeID>, storage: GroupLogStorage) throws {
        self.host = host
        recoveredCommit = max(
            storage.recovered.hardState.commitIndex, storage.recovered.snapshot?.lastIncludedIndex ?? .zero)
        loop = host.loop
        configuration = host.configuration
        wasMember = foundingVoters.contains(configuration.node)
        self.group = group
        requestLoad = configuration.splitLoadMax == nil ? nil : RequestLoad()
        var logger = host.logger
        logger[metadataKey: "group"] = "\(group.rawValue)"
        self.logger = logger
        let engine = try Self.makeEngine(
            configuration: configuration, foundingVoters: foundingVoters, recovered: storage.recovered)
        // Only the cluster's own group keeps the address book; no other group's store may write it.
        let addressBook = group == NodeHost.clusterGroup ? host.addressBook : nil
        let shardMapBook = group == NodeHost.clusterGroup ? host.shardMapBook : nil
        let accessBook = group == NodeHost.clusterGroup ? host.accessBook : nil
        driver = Driver(
            engine: engine,
            stateMachine: StoreMachine(
                addressBook: addressBook, shardMapBook: shardMapBook, accessBook: accessBook, watchHub: watchHub),
            storage: storage,
            transport: GroupTransport(group: group, peers: host.peers, logger: logger),
            recoveredSnapshot: storage.recovered.snapshot,
            serializesSnapshotsInline: false, processing: .whenAsked)
    }

    private static func makeEngine(
        configuration: ServerConfiguration, foundingVoters: Set<NodeID>, recovered: RecoveredState
    ) throws -> SelectedEngine {
        // Snapshots are taken on the event loop, so take them rarely (etcd's default), and keep enough entries
        // after one that a briefly lagging follower catches up from the log instead of a snapshot.
        let retainedAfterSnapshot = min(5_000, configuration.snapshotIntervalEntries)
        switch configuration.consensus {
        case .raft:
            var options = RaftOptions()
            options.initialConfiguration = Configuration(voters: foundingVoters)
            options.randomSeed = UInt64.random(in: .min ... .max)
            options.maxBytesPerAppend = 8 << 20
            // Idle groups fall silent; the host's node liveness wakes them when a leader's node goes quiet.
            options.quiescence = true
            options.snapshotIntervalEntries = configuration.snapshotIntervalEntries
            options.entriesRetainedAfterSnapshot = retainedAfterSnapshot
            return .raft(try RaftNode(id: configuration.node, options: options, recovered: recovered))
        case .paxos:
            var options = PaxosOptions()
            options.initialConfiguration = Configuration(voters: foundingVoters)
            options.randomSeed = UInt64.random(in: .min ... .max)
            options.maxBytesPerAccept = 8 << 20
            options.snapshotIntervalEntries = configuration.snapshotIntervalEntries
            options.entriesRetainedAfterSnapshot = retainedAfterSnapshot
            return .paxos(try MultiPaxosNode(id: configuration.node, options: options, recovered: recovered))
        }
    }

    /// Whether the host will process this group's driver when the event-loop turn ends.
    private var processingScheduled = false

    /// Inputs only step the engine: the host processes every stepped group once, when the event-loop turn ends, so
    /// that the turn's proposals, reads and messages become one write, one frame per peer and one heartbeat round.
    private func processAtTurnEnd() {
        guard driver.needsProcessing, !processingScheduled else { return }
        processingScheduled = true
        host.processAtTurnEnd(self)
    }

    /// Turns what this turn's inputs produced into effects, and answers the clients it completed.
    func process() {
        loop.preconditionInEventLoop()
        processingScheduled = false
        driver.process()
        answerCompletions()
        // An answer may have proposed the next step (a configuration change after its member's address).
        processAtTurnEnd()
    }

    func address(of node: NodeID) -> MemberAddress? { host.address(of: node) }

    /// Wakes this group if it is a quiescent follower of `leader`, whose node fell silent or reconnected; returns
    /// whether it did.
    func wakeIfQuiescentFollower(of leader: NodeID) -> Bool {
        guard driver.engine.isQuiescent, driver.engine.role != .leader, driver.engine.leaderHint == leader else {
            return false
        }
        driver.wake()
        return true
    }

    /// The peers whose node is silent now, so that a leader may quiesce past them.
    func reportUnreachable(_ peers: Set<NodeID>) {
        driver.reportUnreachable(peers)
    }

    /// Wakes this group if it is a quiescent leader with `peer` among its members, whose node fell silent (the
    /// leader must check it still has a quorum) or is heard again (it must be caught up before it times out and
    /// campaigns). Returns whether it did.
    func wakeIfQuiescentLeader(of peer: NodeID) -> Bool {
        guard driver.engine.isQuiescent, driver.engine.role == .leader,
            driver.engine.configuration.contains(peer)
        else { return false }
        driver.wake()
        return true
    }

    /// Whether the tick may skip this group until something arrives for it: quiescent, no client waiting, and, on a
    /// leader, no lease whose expiry the tick must watch for.
    var isAsleep: Bool {
        driver.engine.isQuiescent && pending.isEmpty && leaseRevocations.inFlight.isEmpty
            && (driver.engine.role != .leader || driver.stateMachine.store.leaseCount == 0)
    }

    func tick() {
        loop.preconditionInEventLoop()
        driver.tick()
        countLeaderChange()
        noticeOwnRemoval()
        revokeExpiredLeases()
        compactHistory()
        processAtTurnEnd()
    }

    private func countLeaderChange() {
        let leader = driver.engine.leaderHint
        guard leader != leaderSeen else { return }
        leaderSeen = leader
        metrics.leaderChanges.increment()
        let term = driver.engine.term.rawValue
        switch leader {
        case configuration.node?: logger.info("leading, term \(term)")
        case let leader?: logger.info("following node \(leader.rawValue), term \(term)")
        case nil: logger.info("no leader known, term \(term)")
        }
    }

    /// The node's metrics in Prometheus's text format, the gauges sampled now.
    func metricsExposition() -> [UInt8] {
        loop.preconditionInEventLoop()
        metrics.sample(
            status: status, store: driver.stateMachine.store, watchers: watchHub.count, pending: pending.count)
        return metrics.exposition()
    }

    /// The members as the dashboard lists them (`Dashboard`): this group's configuration, and where each serves.
    func dashboardMembers() -> [Dashboard.Member] {
        loop.preconditionInEventLoop()
        let status = status
        return (status.voters.map { ($0, true) } + status.learners.map { ($0, false) }).map { node, isVoter in
            Dashboard.Member(
                id: node, isVoter: isVoter, address: address(of: node), httpAddress: host.httpAddress(of: node))
        }
    }

    /// Keys as this replica has them, for the dashboard, which must cost no request: nil if the store refuses.
    func localRange(_ request: RangeRequest) -> RangeResponse? {
        loop.preconditionInEventLoop()
        return try? driver.stateMachine.store.range(request)
    }

    /// The compaction revision last proposed, so that one is in flight at a time.
    private var compactionProposed = Revision.zero

    /// Proposes a compaction once the retained history has grown to twice the retention, so that compactions
    /// are rare and each drops half the history (incrementally, as the store applies later commands).
    private func compactHistory() {
        guard driver.engine.role == .leader else {
            compactionProposed = .zero
            return
        }
        let retained = configuration.historyRevisionsRetained
        let store = driver.stateMachine.store
        guard retained > 0, store.compactedRevision >= compactionProposed,
            store.revision.rawValue > store.compactedRevision.rawValue + 2 * retained
        else { return }
        let target = Revision(store.revision.rawValue - retained)
        nextToken += 1
        if (try? driver.propose(StoreProposal(.compact(target)).encoded, token: nextToken)) != nil {
            compactionProposed = target
        }
    }

    /// Lease time is the leader's wall clock, stamped into grants and keep-alives and compared here: expiry is
    /// decided by the leader alone and replicated as a revoke, so followers never expire anything on their own
    /// clocks. A leader cut off from its quorum cannot get a revoke committed, and steps down (CheckQuorum).
    private var now: StoreTime { StoreTime(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000)) }

    private func revokeExpiredLeases() {
        let due = leaseRevocations.due(
            in: driver.stateMachine.store, now: now, isLeader: driver.engine.role == .leader)
        for lease in due {
            nextToken += 1
            guard (try? driver.propose(StoreProposal(.leaseRevoke(lease)).encoded, token: nextToken)) != nil else {
                return
            }
            leaseRevocations.proposed(lease)
        }
    }

    /// The leader's clock goes into lease commands, whatever the client sent.
    private func stamped(_ proposal: StoreProposal) -> StoreProposal {
        var stamped = proposal
        switch proposal.command {
        case .leaseGrant(let id, let ttl, _): stamped.command = .leaseGrant(id: id, ttl: ttl, grantedAt: now)
        case .leaseKeepAlive(let id, _): stamped.command = .leaseKeepAlive(id: id, at: now)
        default: break
        }
        return stamped
    }

    func receive(_ messages: [Message]) {
        loop.preconditionInEventLoop()
        noticeRemovals(messages)
        for message in messages {
            if let error = driver.receive(message) {
                metrics.peerMessagesRefused.increment()
                logger.warning("refused a message from \(message.from): \(error)")
            } else if let snapshot = message.payload.snapshot {
                let (index, bytes) = (snapshot.lastIncludedIndex.rawValue, snapshot.data.count)
                logger.info(
                    "received from node \(message.from.rawValue) the snapshot through index \(index) (\(bytes) bytes)")
            }
        }
        processAtTurnEnd()
    }

    func persisted(readyNumber: UInt64) {
        loop.preconditionInEventLoop()
        driver.persisted(readyNumber: readyNumber)
        processAtTurnEnd()
    }

    /// This replica's view of its group, for `quorum group list` and the node's group counts.
    var groupStatus: GroupStatus {
        let engine = driver.engine
        return GroupStatus(
            group: group, role: engine.role.rawValue, term: engine.term, leader: engine.leaderHint,
            commitIndex: engine.commitIndex, appliedIndex: driver.appliedIndex, isQuiescent: engine.isQuiescent,
            voters: engine.configuration.voters.sorted(), learners: engine.configuration.learners.sorted())
    }

    var status: NodeStatus {
        let engine = driver.engine
        return NodeStatus(
            node: engine.id, role: engine.role.rawValue, term: engine.term, leader: engine.leaderHint,
            commitIndex: engine.commitIndex, appliedIndex: driver.appliedIndex, lastIndex: engine.lastIndex,
            voters: engine.configuration.voters.sorted(), learners: engine.configuration.learners.sorted())
    }

    /// Whether this node leads the group and another voter could take over (a graceful shutdown waits for that).
    var leadsWithOtherVoters: Bool {
        driver.engine.role == .leader && driver.engine.configuration.voters.contains { $0 != configuration.node }
    }
    /// Clients waiting: on the log or a read index, or for a backup being serialised off the loop.
    var hasWaitingRequests: Bool { !pending.isEmpty || backupsSerialising > 0 }
    private var backupsSerialising = 0

    /// For a graceful shutdown: asks the engine to hand this group's leadership to the other voter whose log matches
    /// the leader's furthest; returns it, or nil if this node does not lead or there is no other voter.
    func handOverLeadership() -> NodeID? {
        loop.preconditionInEventLoop()
        let engine = driver.engine
        guard engine.role == .leader else { return nil }
        let voters = engine.replicationStatus.filter {
            $0.key != engine.id && engine.configuration.voters.contains($0.key)
        }
        guard let target = voters.max(by: { ($0.value.matchIndex, $1.key) < ($1.value.matchIndex, $0.key) })?.key,
            (try? driver.transferLeadership(to: target)) != nil
        else { return nil }
        processAtTurnEnd()
        return target
    }

    /// Answers every request still waiting as unavailable: the node is going away, and a retry elsewhere is safe.
    func refuseWaiting(_ reason: String) {
        loop.preconditionInEventLoop()
        for request in pending.values {
            request.respond(ClientResponse(requestID: request.requestID, outcome: .unavailable(reason)))
        }
        pending.removeAll()
    }

    /// Storage refused a write (a full disk, an I/O error): nothing more can be made durable here.
    func storageFailed(_ error: StorageError) {
        loop.preconditionInEventLoop()
        guard error.code == .noSpace else {
            stop(
                because:
                    "node \(configuration.node.rawValue) stopped: its storage failed (\(error)); fix the disk and restart it"
            )
            return
        }
        stopIsTemporary = true
        stop(
            because:
                "node \(configuration.node.rawValue)'s disk is full (\(error)); it serves again once space is freed")
        host.storageFilledUp()
    }

    /// The host reopened storage and replaced this replica with a new one: answer whoever still waits here, end the
    /// watches (their clients resume on the new replica), and tell in-process observers to look again.
    func retire() {
        loop.preconditionInEventLoop()
        stopIsTemporary = true
        stop(because: "node \(configuration.node.rawValue) reopened its storage; retry")
        watchHub.endAll(reason: "node \(configuration.node.rawValue) reopened its storage; watch again")
    }

    private func refusal(_ reason: String) -> ClientResponse.Outcome {
        stopIsTemporary ? .unavailable(reason) : .failed(reason)
    }

    /// Refuses everything from now on with `reason`, the requests waiting included; false if already stopped.
    @discardableResult
    private func stop(because reason: String) -> Bool {
        guard stopReason == nil else { return false }
        logger.log(level: stopIsTemporary ? .error : .critical, "\(reason)")
        stopReason = reason
        for request in pending.values {
            request.respond(ClientResponse(requestID: request.requestID, outcome: refusal(reason)))
        }
        pending.removeAll()
        return true
    }

    /// A leader says the committed configuration no longer includes this node.
    /// A leader says the committed configuration no longer includes this node. Peers are not authenticated yet,
    /// so the notice is believed only if it answers this node's own query to that leader's address (see
    /// `MembershipNotice`); any other notice makes the node ask.
    func noticeRemoval(_ notice: MembershipNotice) {
        loop.preconditionInEventLoop()
        // A leader older than the newest this node followed may be a deposed one whose configuration is out of date.
        // (Not its own term: a removed Multi-Paxos node raises its round with every prepare nobody answers.)
        guard notice.removed == configuration.node, notice.term >= driver.engine.leadershipTerm else { return }
        guard let query = removalQuery, notice.nonce == query.nonce, notice.leader == query.leader else {
            askToConfirmRemoval(by: notice.leader)
            return
        }
        removalQuery = nil
        removed(
            "\(removalSubject) (leader node \(notice.leader.rawValue) at term \(notice.term.rawValue), configuration of"
                + " index \(notice.configurationIndex.rawValue))")
    }

    /// The query this node sent to confirm a removal notice, and to whom, and when (one a second at most).
    private var removalQuery: (nonce: UInt64, leader: NodeID, sent: NIODeadline)?

    private func askToConfirmRemoval(by leader: NodeID) {
        let now = NIODeadline.now()
        if let query = removalQuery, now - query.sent < .seconds(1) { return }
        let nonce = UInt64.random(in: 1...UInt64.max)
        removalQuery = (nonce, leader, now)
        host.peers.send(MembershipQuery(group: group, nonce: nonce).frame, to: leader)
    }

    /// A node asks whether this leader's committed configuration still includes it: answered only if it does not,
    /// with the query's nonce, which a forger elsewhere never saw.
    func answer(_ query: MembershipQuery, from node: NodeID) {
        loop.preconditionInEventLoop()
        guard driver.engine.role == .leader, isRemoved(node) else { return }
        let notice = MembershipNotice(
            group: group, removed: node, leader: configuration.node, term: driver.engine.term,
            configurationIndex: driver.engine.committedConfiguration.index, nonce: query.nonce)
        host.peers.send(notice.frame, to: node)
    }

    /// Whether the committed configuration leaves `node` out, and the one in force does not bring it back.
    private func isRemoved(_ node: NodeID) -> Bool {
        !driver.engine.committedConfiguration.configuration.contains(node)
            && !driver.engine.configuration.contains(node)
    }

    private var removalSubject: String {
        group == NodeHost.clusterGroup
            ? "node \(configuration.node.rawValue) was removed from the cluster"
            : "node \(configuration.node.rawValue)'s replica of group \(group.rawValue) was removed from the group"
    }

    private func removed(_ reason: String) {
        let reason =
            group != NodeHost.clusterGroup
            ? reason
            : reason + "; it serves nothing more. Its data is intact: if the removal was not intended, restart it and"
                + " it rejoins as before; to bring the machine back as a member, add it under a new node id with a new"
                + " data directory"
        if stop(because: reason) { host.replicaRemoved(group, reason: reason) }
    }

    /// Answers a vote request (a Multi-Paxos prepare) from a node that the committed configuration does not include,
    /// and that the configuration in force does not bring back, with a `MembershipNotice`. Only a leader answers: its
    /// log holds every committed change, so a node missing from its configurations was removed, not added too recently.
    private func noticeRemovals(_ messages: [Message]) {
        // On the path of every message: nothing is looked at until a vote request reaches a leader.
        for message in messages {
            switch message.payload {
            case .requestVote, .paxos(.prepare): break
            default: continue
            }
            guard driver.engine.role == .leader, isRemoved(message.from) else { continue }
            tellRemoved(message.from)
        }
    }

    /// Tells `node` that the committed configuration no longer includes it, at most once a second.
    private func tellRemoved(_ node: NodeID) {
        let now = NIODeadline.now()
        if let last = removalNoticesSent[node], now - last < .seconds(1) { return }
        removalNoticesSent[node] = now
        let notice = MembershipNotice(
            group: group, removed: node, leader: configuration.node, term: driver.engine.term,
            configurationIndex: driver.engine.committedConfiguration.index)
        host.peers.send(notice.frame, to: node)
    }

    /// A node that committed its own removal (a leader removing itself) knows without being told.
    private func noticeOwnRemoval() {
        let committed = driver.engine.committedConfiguration
        if committed.configuration.contains(configuration.node) {
            wasMember = true
            return
        }
        // Wait until the removal has applied, and answer what that completed (the removal's own request among
        // it) before stopping: stopping fails whatever is still waiting.
        guard wasMember, driver.appliedIndex >= committed.index else { return }
        answerCompletions()
        removed("\(removalSubject) (its own log committed the removal)")
    }

    func handle(_ request: ClientRequest, respond answer: @escaping Responder) {
        loop.preconditionInEventLoop()
        let started = ContinuousClock.now
        let duration = metrics.requestDuration
        let respond: Responder = { response in
            duration.record(started.duration(to: .now))
            answer(response)
        }
        if let stopReason {
            respond(ClientResponse(requestID: request.requestID, outcome: refusal(stopReason)))
            return
        }
        nextToken += 1
        let token = nextToken
        metrics.countRequest(Self.metricsKind(of: request.operation))
        do throws(ProposalError) {
            switch request.operation {
            case .status:
                respond(ClientResponse(requestID: request.requestID, outcome: .status(status)))
                return
            case .read(let range, linearizable: false):
                recordLoad(of: range.key)
                respond(ClientResponse(requestID: request.requestID, outcome: read(range)))
                return
            case .read(let range, linearizable: true):
                recordLoad(of: range.key)
                pending[token] = (request.requestID, .read(range), respond)
                try driver.read(token: token)
            case .write(let proposal):
                if Self.touchesReservedKeys(proposal.command) {
                    respond(
                        ClientResponse(
                            requestID: request.requestID,
                            outcome: .failed("keys starting with \\0quorum/ are reserved for the cluster")))
                    return
                }
                let encoded = stamped(proposal).encoded
                guard encoded.count <= configuration.requestBytesMax else {
                    let message =
                        "request of \(encoded.count) bytes exceeds this node's limit of \(configuration.requestBytesMax) (--max-request-bytes)"
                    respond(ClientResponse(requestID: request.requestID, outcome: .failed(message)))
                    return
                }
                recordLoad(of: Self.firstKey(of: proposal.command))
                pending[token] = (request.requestID, .write, respond)
                try driver.propose(encoded, token: token)
            case .membership(.add(let node, let address, let staysLearner)):
                guard group != NodeHost.clusterGroup || MemberAddress(parsing: address) != nil else {
                    respond(
                        ClientResponse(
                            requestID: request.requestID,
                            outcome: .failed("'\(address)' is not HOST:PEER_PORT:CLIENT_PORT")))
                    return
                }
                // Check the change before storing anything, so a refused change leaves no address behind.
                if let reason = driver.engine.configuration.refusal(
                    of: .addLearner(node, promoteWhenCaughtUp: !staysLearner))
                {
                    throw .invalidConfigurationChange(reason)
                }
                guard driver.engine.role == .leader else { throw .notLeader(leaderHint: driver.engine.leaderHint) }
                if group != NodeHost.clusterGroup {
                    // Another group's members are the cluster's nodes, whose addresses group 1 keeps.
                    guard host.address(of: node) != nil else {
                        let reason = "node \(node.rawValue) is not a member of the cluster; add it to group 1 first"
                        respond(ClientResponse(requestID: request.requestID, outcome: .failed(reason)))
                        return
                    }
                    pending[token] = (request.requestID, .configurationChange, respond)
                    try driver.proposeConfigurationChange(
                        .addLearner(node, promoteWhenCaughtUp: !staysLearner), token: token)
                    break
                }
                let store = StoreProposal(
                    .put(PutRequest(key: AddressBook.memberKey(node), value: Array(address.utf8))))
                pending[token] = (
                    request.requestID, .memberAddress(then: .addLearner(node, promoteWhenCaughtUp: !staysLearner)),
                    respond
                )
                try driver.propose(store.encoded, token: token)
            case .membership(.remove(let node)):
                pending[token] = (request.requestID, .removal(node), respond)
                try driver.proposeConfigurationChange(.remove(node), token: token)
            case .membership(.transferLeadership(let node)):
                try driver.transferLeadership(to: node)
                respond(ClientResponse(requestID: request.requestID, outcome: .status(status)))
            case .leases:
                pending[token] = (request.requestID, .leases, respond)
                try driver.read(token: token)
            case .updateShardMap, .shardMap:
                guard group == NodeHost.clusterGroup else {
                    let reason = "the shard map lives in group \(NodeHost.clusterGroup.rawValue); ask there"
                    respond(ClientResponse(requestID: request.requestID, outcome: .failed(reason)))
                    return
                }
                if case .updateShardMap(let map) = request.operation {
                    pending[token] = (request.requestID, .write, respond)
                    try driver.propose(StoreProposal(.transaction(Self.shardMapSwap(to: map))).encoded, token: token)
                } else {
                    pending[token] = (request.requestID, .shardMap, respond)
                    try driver.read(token: token)
                }
            case .backup:
                // The leader answers, so that a backup costs the followers nothing and the read index is its own.
                guard driver.engine.role == .leader else { throw .notLeader(leaderHint: driver.engine.leaderHint) }
                pending[token] = (request.requestID, .backup, respond)
                try driver.read(token: token)
            case .spanLoad(let span):
                let load = requestLoad?.load(of: span, at: host.elapsedMilliseconds)
                respond(
                    ClientResponse(
                        requestID: request.requestID,
                        outcome: .spanLoad(load ?? SpanLoad(requestsPerSecond: 0, splitKey: nil))))
                return
            case .groups, .createReplica, .access:
                // The host answers these for the node before routing.
                host.handle(request, respond: respond)
                return
            case .watch, .cancelWatch:
                respond(
                    ClientResponse(
                        requestID: request.requestID,
                        outcome: .failed("watches need a streaming connection (the client port)")))
            }
        } catch {
            pending[token] = nil
            metrics.proposalsFailed.increment()
            respond(ClientResponse(requestID: request.requestID, outcome: refusal(error)))
        }
        processAtTurnEnd()
    }

    /// Stores `map` if the stored map is still at the epoch it was made from: a compare-and-swap on the map key's
    /// version, which is the epoch. The transaction's `succeeded` says whether it was stored.
    static func shardMapSwap(to map: ShardMap) -> TransactionRequest {
        TransactionRequest(
            compare: [Comparison(key: ShardMapBook.key, .version(map.epoch), .equal)],
            success: [.put(PutRequest(key: ShardMapBook.key, value: map.encoded))], failure: [])
    }

    private static func metricsKind(of operation: ClientRequest.Operation) -> NodeMetrics.RequestKind {
        switch operation {
        case .status, .groups, .spanLoad: .status
        case .createReplica, .updateShardMap, .access: .membership
        case .shardMap: .linearizableRead
        case .read(_, linearizable: false): .read
        case .read(_, linearizable: true), .backup: .linearizableRead
        case .write: .write
        case .membership: .membership
        case .leases: .leases
        case .watch, .cancelWatch: .watch
        }
    }

    /// Starts streaming changes to `channel`: first the history from `startRevision` (if given), then every
    /// change as this node applies it. Both happen on the loop, so nothing falls between them.
    func watch(requestID: UInt64, key: [UInt8], rangeEnd: [UInt8]?, startRevision: Revision?, channel: any Channel) {
        loop.preconditionInEventLoop()
        metrics.countRequest(.watch)
        guard watchHub.count < configuration.watchesMax else {
            metrics.watchesRefused.increment()
            let reason =
                "too many watches: this node serves \(configuration.watchesMax) of this group already (--max-watches)"
            WatchHub.send(.watchEnded(reason: reason, resumeRevision: nil), to: channel, requestID: requestID)
            return
        }
        guard watchHub.count(on: channel) < configuration.watchesPerConnectionMax else {
            metrics.watchesRefused.increment()
            let reason =
                "too many watches on this connection: at most \(configuration.watchesPerConnectionMax) per group "
                + "(--max-watches-per-connection)"
            WatchHub.send(.watchEnded(reason: reason, resumeRevision: nil), to: channel, requestID: requestID)
            return
        }
        watchHub.add(
            key: key, rangeEnd: rangeEnd, startRevision: startRevision ?? .zero,
            replayFrom: startRevision.map { HistoryPosition(revision: $0) }, channel: channel, requestID: requestID)
        if startRevision != nil { replayNextPage(requestID: requestID, channel: channel) }
    }

    /// Sends the next page of a watch's history, and the one after once this one is written to the socket.
    private func replayNextPage(requestID: UInt64, channel: any Channel) {
        guard let watcher = watchHub.replaying(channel: channel, requestID: requestID),
            let position = watcher.replayFrom
        else { return }
        let page: EventPage
        do throws(StoreError) {
            page = try driver.stateMachine.store.eventPage(
                from: position, key: watcher.key, rangeEnd: watcher.rangeEnd, eventsMax: WatchHub.pageEventsMax,
                bytesMax: WatchHub.pageBytesMax, scannedMax: WatchHub.pageScannedMax)
        } catch {
            watchHub.end(channel: channel, requestID: requestID, reason: error.description)
            return
        }
        watchHub.replayed(channel: channel, requestID: requestID, upTo: page.next)
        let written = channel.eventLoop.makePromise(of: Void.self)
        if page.events.isEmpty {
            written.succeed(())
        } else {
            WatchHub.send(.watchEvents(page.events), to: channel, requestID: requestID, promise: written)
        }
        guard page.next != nil else { return }
        written.futureResult.whenComplete { _ in
            self.loop.execute { self.replayNextPage(requestID: requestID, channel: channel) }
        }
    }

    func cancelWatch(requestID: UInt64, channel: any Channel) {
        loop.preconditionInEventLoop()
        watchHub.cancel(channel: channel, requestID: requestID)
    }

    /// Forgets the watches of a closed connection, which would otherwise count against `--max-watches` until a
    /// change in their range came by.
    func dropWatches(of channel: any Channel) {
        loop.preconditionInEventLoop()
        watchHub.drop(channel: channel)
    }

    /// Calls `changed` on the loop, once, after this replica applied a change to any of `keys` (the Redis port's
    /// blocking pops wait on it). Returns what cancels it.
    func observe(_ keys: [[UInt8]], changed: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        loop.preconditionInEventLoop()
        // Called from inside the apply: what it runs next comes after the apply finished.
        let id = watchHub.observe(Set(keys)) { [loop] in loop.execute(changed) }
        let hub = watchHub
        return { hub.stopObserving(id) }
    }

    /// Whether a client command would write a member address, directly or inside a transaction.
    /// Keys the cluster keeps for itself (member addresses, the leader's Redis address); clients may not write them.
    static let reservedKeyPrefix = AccessRecords.reservedPrefix

    /// Counts a request for `key` towards its span's load, when the node splits spans by load (otherwise the key is
    /// not even worked out).
    func recordLoad(of key: @autoclosure () -> [UInt8]?) {
        guard requestLoad != nil, let key = key() else { return }
        requestLoad?.record(key, at: host.elapsedMilliseconds)
    }

    /// The key a write is counted under for load: the first it names.
    private static func firstKey(of command: StoreCommand) -> [UInt8]? {
        switch command {
        case .put(let put): put.key
        case .deleteRange(let delete): delete.key
        case .range(let range): range.key
        case .transaction(let transaction):
            transaction.compare.first?.key
                ?? (transaction.success + transaction.failure).lazy.compactMap { operation in
                    switch operation {
                    case .put(let put): put.key
                    case .deleteRange(let delete): delete.key
                    case .range(let range): range.key
                    case .transaction: nil
                    }
                }.first
        default: nil
        }
    }

    private static func touchesReservedKeys(_ command: StoreCommand) -> Bool {
        switch command {
        case .put(let put): writesReservedKeys(.put(put))
        case .deleteRange(let delete): writesReservedKeys(.deleteRange(delete))
        case .transaction(let transaction): writesReservedKeys(.transaction(transaction))
        default: false
        }
    }

    private static func writesReservedKeys(_ operation: TransactionOperation) -> Bool {
        let prefix = reservedKeyPrefix
        switch operation {
        case .put(let put):
            return put.key.starts(with: prefix)
        case .deleteRange(let delete):
            // [key, end) meets [prefix, prefixEnd) unless it lies wholly before or after it.
            guard let end = delete.rangeEnd else { return delete.key.starts(with: prefix) }
            let prefixEnd = KeyRange.prefixEnd(of: prefix)
            let endsBefore = end != [0] && !prefix.lexicographicallyPrecedes(end)
            let startsAfter = !delete.key.lexicographicallyPrecedes(prefixEnd)
            return !(endsBefore || startsAfter)
        case .transaction(let nested):
            return (nested.success + nested.failure).contains(where: writesReservedKeys)
        case .range:
            return false
        }
    }

    private func read(_ range: RangeRequest) -> ClientResponse.Outcome {
        do throws(StoreError) {
            return .result(.range(try driver.stateMachine.store.range(range)))
        } catch {
            return .result(.failed(error))
        }
    }

    private var leases: [LeaseStatus] {
        let store = driver.stateMachine.store
        let now = now
        return store.leaseIDs().compactMap { try? store.timeToLive(of: $0, now: now) }
    }

    typealias LeasedReadResponder = @Sendable (LeasedReadOutcome) -> Void

    /// A range read for the Redis port, which must hide keys whose lease has run out before the leader's revoke
    /// applies: it answers with the deadline of every lease the keys hold and this node's clock. Linearizable
    /// reads go through ReadIndex like `.read`; serializable ones answer from this node's state at once.
    func readWithLeases(_ range: RangeRequest, linearizable: Bool, respond: @escaping LeasedReadResponder) {
        loop.preconditionInEventLoop()
        if let stopReason { return respond(.refused(refusal(stopReason))) }
        guard linearizable else { return respond(leasedRead(range)) }
        nextToken += 1
        let token = nextToken
        pending[token] = (0, .leasedRead(range, respond), { response in respond(.refused(response.outcome)) })
        do throws(ProposalError) {
            try driver.read(token: token)
        } catch {
            pending[token] = nil
            respond(.refused(refusal(error)))
        }
        processAtTurnEnd()
    }

    /// How many keys a lease holds on this node (nil: no such lease), so the Redis port revokes a key's old lease
    /// once an overwrite leaves it empty. Local state, not a linearizable read: the port asks on the leader, right
    /// after its own write applied.
    /// Whether this replica has applied what it had committed before it started, and, if it started empty to join a
    /// running cluster, what its leader had committed when it first heard of one.
    var hasCaughtUp: Bool {
        let applied = driver.appliedIndex
        guard applied >= recoveredCommit else { return false }
        guard configuration.joining, recoveredCommit == .zero else { return true }
        return driver.engine.leaderHint != nil && driver.engine.commitIndex > .zero
            && applied >= driver.engine.commitIndex
    }

    func leaseKeyCount(_ id: LeaseID) -> Int? { leaseKeys(id)?.count }

    /// The keys lease `id` holds on this replica; nil when there is no such lease.
    func leaseKeys(_ id: LeaseID) -> [[UInt8]]? {
        loop.preconditionInEventLoop()
        return (try? driver.stateMachine.store.timeToLive(of: id, now: now))?.keys
    }

    /// Proposes a transaction on the cluster's reserved keys, which `handle` refuses to clients: the node's own
    /// changes to users and roles. Answered as a write is.
    func proposeReserved(_ transaction: TransactionRequest, requestID: UInt64, respond: @escaping Responder) {
        loop.preconditionInEventLoop()
        nextToken += 1
        let token = nextToken
        do throws(ProposalError) {
            pending[token] = (requestID, .write, respond)
            try driver.propose(StoreProposal(.transaction(transaction)).encoded, token: token)
        } catch {
            pending[token] = nil
            respond(ClientResponse(requestID: requestID, outcome: refusal(error)))
        }
        processAtTurnEnd()
    }

    /// Whether this replica takes a command for `key` sent after ASKING: its group is importing the key's slot or
    /// span, or has adopted it, whatever the shard map this node has applied says yet.
    func takesAskedKey(_ key: [UInt8]) -> Bool {
        switch driver.stateMachine.store.ownership.state(ofKey: key) {
        case .importing, .owned: true
        case .released, nil: false
        }
    }

    private func leasedRead(_ range: RangeRequest) -> LeasedReadOutcome {
        let store = driver.stateMachine.store
        do throws(StoreError) {
            let response = try store.range(range)
            let now = now
            var deadlines: [LeaseID: StoreTime] = [:]
            for lease in Set(response.kvs.compactMap(\.lease)) {
                if let status = try? store.timeToLive(of: lease, now: now) { deadlines[lease] = status.deadline }
            }
            return .read(LeasedRange(range: response, deadlines: deadlines, now: now))
        } catch {
            return .refused(.result(.failed(error)))
        }
    }

    private func refusal(_ error: ProposalError) -> ClientResponse.Outcome {
        switch error {
        case .notLeader(let leader):
            return .notLeader(leader: leader, clientAddress: leader.flatMap { address(of: $0)?.clientAddress } ?? "")
        case .configurationChangePending, .leaderNotReady, .leadershipTransferInProgress:
            // Passing states (a promotion committing, a new leader's first entry, a handover): the client retries.
            return .unavailable(error.description)
        case .invalidConfigurationChange:
            return .failed(error.description)
        }
    }

    private func proposeAfterAddressStored(
        _ change: ConfigurationChange, token: UInt64, request: (requestID: UInt64, respond: Responder)
    ) {
        do throws(ProposalError) {
            pending[token] = (request.requestID, .configurationChange, request.respond)
            try driver.proposeConfigurationChange(change, token: token)
        } catch {
            pending[token] = nil
            request.respond(ClientResponse(requestID: request.requestID, outcome: refusal(error)))
        }
    }

    /// Serialises a due snapshot on the concurrency pool, not on the loop, and hands the bytes back to the driver.
    private func serializeSnapshotOffLoop() {
        guard let job = driver.takeSnapshotJob() else { return }
        serializeOffLoop(job.image) { data in self.snapshotSerialized(through: job.index, data: data) }
    }

    /// Serialises `image` on the concurrency pool and hands its bytes to `then` back on the loop: the store image is
    /// a copy-on-write value, so the loop keeps applying while the bytes are made.
    private func serializeOffLoop(_ image: KeyValueStore, then: @escaping @Sendable ([UInt8]) -> Void) {
        let host = host
        Task.detached {
            let data = StoreMachine.serialize(image)
            host.onLoop { then(data) }
        }
    }

    /// Answers a backup whose read index has applied: the store as it is now, a linearizable point of the group,
    /// serialised the way the node serialises its own snapshots.
    private func answerBackup(requestID: UInt64, respond: @escaping Responder) {
        let image = driver.stateMachine.snapshotImage()
        let appliedIndex = driver.appliedIndex
        let (group, identity) = (group, host.identity)
        backupsSerialising += 1
        serializeOffLoop(image) { data in
            self.backupsSerialising -= 1
            let backup = GroupBackup(
                group: group, clusterID: identity.clusterID ?? 0, clusterGroups: identity.clusterGroups,
                revision: image.revision, appliedIndex: appliedIndex, store: data)
            respond(ClientResponse(requestID: requestID, outcome: .backup(backup)))
        }
    }

    private func snapshotSerialized(through index: LogIndex, data: [UInt8]) {
        loop.preconditionInEventLoop()
        driver.snapshotSerialized(through: index, data: data)
        answerCompletions()
    }

    private func answerCompletions() {
        serializeSnapshotOffLoop()
        for completion in driver.takeCompletions() {
            switch completion {
            case .committed(let token, _, let output):
                guard let request = pending.removeValue(forKey: token) else { continue }
                switch request.waiting {
                case .memberAddress(let change):
                    proposeAfterAddressStored(change, token: token, request: (request.requestID, request.respond))
                case .configurationChange:
                    request.respond(ClientResponse(requestID: request.requestID, outcome: .status(status)))
                case .removal(let node):
                    if node != configuration.node && driver.engine.role == .leader { tellRemoved(node) }
                    request.respond(ClientResponse(requestID: request.requestID, outcome: .status(status)))
                case .write, .read, .leases, .shardMap, .leasedRead, .backup:
                    let outcome: ClientResponse.Outcome =
                        output.map { .result($0) } ?? .failed("the entry carried no command")
                    request.respond(ClientResponse(requestID: request.requestID, outcome: outcome))
                }
            case .readable(let token):
                guard let request = pending.removeValue(forKey: token) else { continue }
                switch request.waiting {
                case .read(let range):
                    request.respond(ClientResponse(requestID: request.requestID, outcome: read(range)))
                case .leases: request.respond(ClientResponse(requestID: request.requestID, outcome: .leases(leases)))
                case .shardMap:
                    request.respond(ClientResponse(requestID: request.requestID, outcome: .shardMap(host.shardMap)))
                case .leasedRead(let range, let respond): respond(leasedRead(range))
                case .backup: answerBackup(requestID: request.requestID, respond: request.respond)
                case .write, .memberAddress, .configurationChange, .removal: continue
                }
            case .dropped(let token), .readFailed(let token):
                guard let request = pending.removeValue(forKey: token) else { continue }
                let message = "leadership changed before the request took effect; retry"
                request.respond(ClientResponse(requestID: request.requestID, outcome: .unavailable(message)))
            case .unknown(let token):
                guard let request = pending.removeValue(forKey: token) else { continue }
                let message =
                    "leadership changed and the outcome is unknown; retry with the same session to apply it once"
                request.respond(ClientResponse(requestID: request.requestID, outcome: .unavailable(message)))
            }
        }
    }
}
