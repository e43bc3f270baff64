import Foundation
import Logging
import NIOCore
import QuorumConsensus
import QuorumSharding
import QuorumStorage
import QuorumWire
import Synchronization

/// The node: a host of consensus groups. It owns what belongs to the node rather than to one replica — the peer
/// connections and their hellos, the cluster's identity, the address book, the tick, the answers due — and routes
/// each peer message and client request to the group it names. Each group (`GroupRuntime`) owns its engine, driver,
/// store, watches and leases. Everything runs on the node's one event loop.
///
/// Group 1 is the cluster's own: its membership is the node's membership (removal from it ends the process) and
/// its store holds the address book. Removal from any other group destroys that replica only, and leaves a
/// tombstone in the node's log so that late messages for the group are dropped instead of bringing it back.
///
/// Every group persists through the node's one write-ahead log (`NodeLogStorage`): one fsync thread, one
/// fdatasync per batch for all the groups with something to persist.
///
/// Idle groups are quiescent (`RaftOptions.quiescence`): no heartbeats of their own. One node-level liveness
/// signal per peer pair replaces them: every tick, a peer that was sent nothing else gets an empty batch, and
/// any frame from a peer proves it alive. A peer silent for an election timeout, or one that reconnects (it may
/// have restarted and forgotten it led), wakes the quiescent followers of the groups it led, which then elect
/// as usual if it is gone.
final class NodeHost: @unchecked Sendable {
    // @unchecked Sendable: everything mutable is touched only on `loop`; each entry point asserts it.
    static let clusterGroup = GroupID(1)

    let loop: any EventLoop
    let configuration: ServerConfiguration
    let logger: Logger
    let metrics: NodeMetrics
    let peers: PeerTransport
    /// Mutual TLS on the peer links, when configured.
    let tls: PeerTLS?
    /// TLS on the client, HTTP and Redis ports, when configured.
    let clientTLS: ClientTLS?
    let addressBook: AddressBook
    let shardMapBook = ShardMapBook()
    let accessBook = AccessBook()
    /// The tokens this node issued (`AccessTokens`).
    let accessTokens: AccessTokens
    let decoyPasswordHash: DecoyPasswordHash
    /// Set once group 1 has caught up after this node started (`accessReady`).
    var accessCaughtUp = false
    /// Answers given up on after `RuntimeGateway.answerTimeout` (`answerInTime`), checked every tick.
    let answersDue = AnswerDeadlines()
    /// The cluster this node's data belongs to; a joining node learns its id from the first member's hello.
    private(set) var identity: ClusterIdentity
    private var groups: [GroupID: GroupRuntime] = [:]
    /// The groups the tick visits. A group that is asleep (`GroupRuntime.isAsleep`: quiescent, nothing waiting)
    /// leaves the set and costs nothing until something arrives for it: so thousands of idle groups cost the tick
    /// nothing.
    private var awake: Set<GroupID> = []
    /// The node's data directory, its shared log and every group's snapshots; reopened after the disk filled up.
    private(set) var storage: NodeLogStorage
    /// Counts the storage's openings, so that callbacks of a storage closed since reach no group of the new one.
    private var storageOpening = 0
    /// While the disk is full: how long until the next attempt to reopen storage.
    private var reopenDelay: TimeAmount?
    /// What each member said in its hello (where it serves Redis and HTTP), this node's own included.
    private var hellos: [NodeID: PeerHello] = [:]
    /// Delivers publications from other nodes to this node's subscribers; set on the loop by the Redis port.
    var publicationReceived: ((Publication) -> Void)?
    /// Told, once, on the loop, that this node learned it was removed from the cluster (`quorum server` exits).
    var onRemoved: (@Sendable (String) -> Void)?
    private var removed = false
    /// Ticks since the host started, and the tick at which each peer was last heard from.
    private var ticks: UInt64 = 0
    /// Time since the host started, by its ticks: the clock request load is measured by.
    var elapsedMilliseconds: Int64 { Int64(clamping: ticks) * configuration.tickMilliseconds }
    private var lastHeard: [NodeID: UInt64] = [:]
    /// Peers whose silence was noticed: their groups' quiescent followers were woken once, when it began. A group
    /// cannot quiesce under a silent leader later, since the quiesce would be a frame from it.
    private var silent: Set<NodeID> = []
    /// A peer silent this many ticks has lost liveness (an election timeout, as the engine counts one).
    static let livenessTimeoutTicks: UInt64 = 10
    /// Groups stepped during this event-loop turn, to be processed once when it ends (`endTurn`).
    private var steppedThisTurn: [GroupRuntime] = []
    /// Client connections written to during this turn, flushed once when it ends.
    private var connectionsToFlush: [ObjectIdentifier: any Channel] = [:]
    private var turnEndScheduled = false
    /// Set when the event loop has stopped, so that the fsync thread no longer schedules work on it.
    private let loopStopped = Mutex(false)
    /// The split driver's task, when `--split-keys` is set.
    private var balancingSpans: Task<Void, Never>?
    /// The placement driver's loop (`--placement`), working while this node leads group 1.
    private var placing: Task<Void, Never>?

    /// A logger whose lines name the node they come from.
    static func logger(_ label: String, node: NodeID) -> Logger {
        var logger = Logger(label: label)
        logger[metadataKey: "node"] = "\(node.rawValue)"
        return logger
    }

    /// The cluster's shard map as this node last applied it.
    var shardMap: ShardMap { shardMapBook.map(foundingGroups: identity.clusterGroups ?? 1) }

    /// Opens every group's storage (bootstrapping `configuration.bootstrapGroups` groups in a new data directory),
    /// checks the directory's identity, and builds each group's runtime. Call on `loop`.
    init(loop: any EventLoop, configuration: ServerConfiguration, metrics: NodeMetrics) throws {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.configuration = configuration
        self.metrics = metrics
        logger = Self.logger("quorum.node", node: configuration.node)
        addressBook = AddressBook(founding: configuration.members)
        accessTokens = AccessTokens(timeToLive: TimeAmount(configuration.authTokenTTL))
        decoyPasswordHash = DecoyPasswordHash(cost: configuration.bcryptCost)
        let hello = PeerHello(
            node: configuration.node, redisPort: configuration.redisPort, httpPort: configuration.httpPort)
        hellos[configuration.node] = hello
        tls = try configuration.peerTLS.map(PeerTLS.init(files:))
        clientTLS = try configuration.clientTLS.map(ClientTLS.init(files:))
        peers = PeerTransport(loop: loop, frameBytesMax: configuration.peerFrameBytesMax, hello: hello, tls: tls)
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        storage = try Self.openStorage(configuration, metrics)
        let created: Bool
        do {
            // Checked under the directory's lock, before anything is recovered into an engine.
            (identity, created) = try ClusterIdentity.establish(in: storage.directory, for: configuration)
        } catch {
            storage.close()
            throw error
        }
        peers.hello.clusterID = identity.clusterID
        peers.hello.clusterGroups = identity.clusterGroups
        let addressBook = addressBook
        peers.addressOf = { node in addressBook.address(of: node) }
        do {
            let founded = created ? (1...identity.bootstrapGroups).map { GroupID(UInt64($0)) } : []
            let hosted = Set(storage.recoveredGroups + founded + [Self.clusterGroup])
            for group in hosted.subtracting(storage.tombstonedGroups).sorted() { try addGroup(group) }
            guard let cluster = groups[Self.clusterGroup] else {
                throw ConfigurationError(
                    "data directory \(configuration.dataDirectory) holds a tombstone for group 1, the cluster's own; "
                        + "restore the directory from a backup")
            }
            clusterGroup = cluster
        } catch {
            close()
            throw error
        }
    }

    private static func openStorage(_ configuration: ServerConfiguration, _ metrics: NodeMetrics) throws
        -> NodeLogStorage
    {
        let io = TimedFileIO(io: configuration.storageIO, syncDuration: metrics.walFsyncDuration)
        return try NodeLogStorage(
            path: configuration.dataDirectory,
            options: NodeLogStorage.Options(
                writeAheadLog: WriteAheadLog.Options(io: io),
                groupsSynced: { [counter = metrics.walGroupWritesSynced] in counter.increment(by: Int64($0)) }))
    }

    private func addGroup(_ group: GroupID) throws {
        // The callbacks run on the fsync thread; the host outlives its storage (`close()` stops that thread).
        let opening = storageOpening
        let groupStorage = try storage.openGroup(
            group,
            onDurable: { [unowned self] readyNumber in
                onLoop { if self.storageOpening == opening { self.stir(group)?.persisted(readyNumber: readyNumber) } }
            },
            onFailure: { [unowned self] error in
                onLoop { if self.storageOpening == opening { self.stir(group)?.storageFailed(error) } }
            })
        groups[group] = try GroupRuntime(
            host: self, group: group, foundingVoters: identity.foundingVoters, storage: groupStorage)
        awake.insert(group)
    }

    // MARK: A full disk

    /// A group's storage failed for want of space: try to reopen it once space is freed, rather than wait for a
    /// restart. Storage refuses everything after a failed write, so reopening it is what a restart would do:
    /// recovery from what is on disk, through the same path.
    func storageFilledUp() {
        loop.preconditionInEventLoop()
        guard reopenDelay == nil else { return }
        reopenDelay = .seconds(1)
        scheduleReopen()
    }

    private func scheduleReopen() {
        guard let delay = reopenDelay else { return }
        loop.scheduleTask(in: delay) { self.reopenStorageIfSpace() }
    }

    /// Free bytes the data directory's file system needs before storage is reopened: room for a new log segment,
    /// which is reserved whole, and then some.
    static let freeBytesToReopen: UInt64 = 2 * 64 << 20

    private func reopenStorageIfSpace() {
        guard let delay = reopenDelay, !loopStopped.withLock({ $0 }) else { return }
        // Back off up to 30 s between attempts: each one reads the whole log back.
        reopenDelay = min(delay * 2, .seconds(30))
        guard let free = Self.freeBytes(at: configuration.dataDirectory), free >= Self.freeBytesToReopen else {
            return scheduleReopen()
        }
        for group in groups.values { group.retire() }
        groups.removeAll()
        awake.removeAll()
        steppedThisTurn.removeAll()
        storage.close()
        storageOpening += 1
        do {
            storage = try Self.openStorage(configuration, metrics)
            // The groups a restart would host: those the directory holds, and the cluster's own.
            let hosted = Set(storage.recoveredGroups + [Self.clusterGroup]).subtracting(storage.tombstonedGroups)
            for group in hosted.sorted() { try addGroup(group) }
            guard let cluster = groups[Self.clusterGroup] else {
                throw ConfigurationError("group 1 did not come back when storage was reopened")
            }
            clusterGroup = cluster
        } catch {
            logger.error("reopening storage after the disk filled up failed: \(error); trying again")
            return scheduleReopen()
        }
        reopenDelay = nil
        logger.notice("storage reopened after the disk filled up: serving again")
    }

    private static func freeBytes(at path: String) -> UInt64? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
    }

    func start() {
        let tick = TimeAmount.milliseconds(configuration.tickMilliseconds)
        loop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in self.tick() }
        if configuration.splitKeysMax != nil || configuration.splitLoadMax != nil {
            let driver = SpanDriver(
                host: self, keysMax: configuration.splitKeysMax, requestsPerSecondMax: configuration.splitLoadMax)
            balancingSpans = Task { await driver.run() }
        }
        if let deadAfter = configuration.placementDeadAfter {
            let placement = PlacementLoop(host: self, deadAfter: deadAfter)
            placing = Task { await placement.run() }
        }
    }

    private func tick() {
        loop.preconditionInEventLoop()
        ticks += 1
        answersDue.expire(now: .now())
        for id in awake {
            guard let group = groups[id] else { continue }
            group.tick()
            if group.isAsleep { awake.remove(id) }
        }
        peers.sendLiveness(to: addressBook.members.subtracting([configuration.node]))
        for (peer, heard) in lastHeard where ticks - heard > Self.livenessTimeoutTicks && !silent.contains(peer) {
            silent.insert(peer)
            reportSilentPeers()
            wakeFollowers(of: peer)
            // A quiescent leader runs no CheckQuorum: woken, it quiesces again if the others still make a quorum,
            // and steps down if they do not.
            for (id, group) in groups where group.wakeIfQuiescentLeader(of: peer) { awake.insert(id) }
        }
    }

    /// A frame arrived from `peer`: it is alive. If it was silent, the quiescent groups this node leads with it
    /// wake, to catch it up before it campaigns.
    func heard(from peer: NodeID) {
        lastHeard[peer] = ticks
        guard silent.remove(peer) != nil else { return }
        reportSilentPeers()
        for (id, group) in groups where group.wakeIfQuiescentLeader(of: peer) { awake.insert(id) }
    }

    /// Tells every group which peers are silent, so that their leaders quiesce past them.
    private func reportSilentPeers() {
        for group in groups.values { group.reportUnreachable(silent) }
    }

    /// Wakes every quiescent follower whose leader is `leader`: its node fell silent or reconnected.
    private func wakeFollowers(of leader: NodeID) {
        for (id, group) in groups where group.wakeIfQuiescentFollower(of: leader) { awake.insert(id) }
    }

    /// Closes the node's storage. Call once the loop has stopped serving.
    /// Runs `work` on the loop, from another thread, unless the loop has stopped: writes still pending when the node
    /// closes are synced as the storage closes, after the loop stopped, and nobody is left to tell; scheduling on a
    /// stopped loop is an error.
    func onLoop(_ work: @escaping @Sendable () -> Void) {
        guard !loopStopped.withLock({ $0 }) else { return }
        loop.execute(work)
    }

    /// Closes the storage once the event loop has stopped.
    func close() {
        balancingSpans?.cancel()
        placing?.cancel()
        loopStopped.withLock { $0 = true }
        storage.close()
    }

    // MARK: The event-loop turn

    /// `group`'s driver was stepped: process it when the turn ends, together with every other group stepped in it.
    func processAtTurnEnd(_ group: GroupRuntime) {
        steppedThisTurn.append(group)
        scheduleTurnEnd()
    }

    /// Writes `response` to a client's connection, flushed when the turn ends with everything else written to it. A
    /// backup, which may be larger than a client accepts in one frame, is encoded and split into parts off the loop
    /// (copying a large store stalled every group for a second in a debug build), then written in one go.
    func answer(_ response: ClientResponse, on channel: any Channel) {
        loop.preconditionInEventLoop()
        guard case .backup = response.outcome else { return write([response.frame], on: channel) }
        let loop = loop
        answersEncoding += 1
        Task.detached {
            let parts = FrameParts.split(response.frame, frameBytesMax: ClientResponse.frameBytesMax)
            loop.execute {
                self.answersEncoding -= 1
                self.write(parts, on: channel)
            }
        }
    }

    /// Answers being encoded off the loop: a graceful shutdown waits for them, so none comes back to a stopped loop.
    private var answersEncoding = 0

    private func write(_ frames: [Frame], on channel: any Channel) {
        for frame in frames { channel.write(frame, promise: nil) }
        connectionsToFlush[ObjectIdentifier(channel)] = channel
        scheduleTurnEnd()
    }

    private func scheduleTurnEnd() {
        guard !turnEndScheduled else { return }
        turnEndScheduled = true
        // Runs after the channel reads and tasks already queued on the loop: the rest of this turn.
        loop.execute { self.endTurn() }
    }

    /// Processes every group stepped this turn, then sends each peer one frame and flushes each client connection
    /// once. The groups' writes reach the fsync thread together, so they share one fdatasync instead of the first
    /// starting one alone.
    private func endTurn() {
        loop.preconditionInEventLoop()
        turnEndScheduled = false
        storage.holdingSubmissions {
            // Processing one group may step another (never itself twice): take the list as it grows.
            var next = 0
            while next < steppedThisTurn.count {
                steppedThisTurn[next].process()
                next += 1
            }
            steppedThisTurn.removeAll(keepingCapacity: true)
        }
        peers.sendOutbox()
        for channel in connectionsToFlush.values { channel.flush() }
        connectionsToFlush.removeAll(keepingCapacity: true)
    }

    // MARK: Groups

    func group(_ id: GroupID) -> GroupRuntime? { groups[id] }

    /// The group `id`, marked awake because something arrived for it; nil if this node does not host it.
    private func stir(_ id: GroupID) -> GroupRuntime? {
        guard let group = groups[id] else { return nil }
        awake.insert(id)
        return group
    }

    /// Group 1, which every node hosts from start to stop (its removal ends the process instead of destroying
    /// it): the default for requests that name no group.
    private(set) var clusterGroup: GroupRuntime!

    /// Every hosted group's status, in group order.
    var groupStatuses: [GroupStatus] {
        groups.keys.sorted().map { groups[$0]!.groupStatus }
    }

    /// Creates an empty replica of `group` here, which the group's leader then adds and catches up. It starts
    /// from the founding configuration, which does not include it, so it never campaigns before it is added.
    private func createReplica(of group: GroupID) -> ClientResponse.Outcome {
        if group.rawValue == 0 { return .failed("groups count from 1") }
        if groups[group] != nil { return .failed("this node already hosts a replica of \(group)") }
        if storage.isTombstoned(group) {
            return .failed(GroupRefusal.removed(group) + "; a removed replica is not recreated")
        }
        do {
            try addGroup(group)
        } catch {
            return .failed("could not create a replica of \(group): \(error)")
        }
        logger.notice("created an empty replica of \(group), to be added by its leader")
        return .groups([groups[group]!.groupStatus])
    }

    /// A group's replica here learned that it was removed from the group. For group 1 that is the node's removal
    /// from the cluster: the process ends. Any other replica is destroyed and leaves a tombstone.
    func replicaRemoved(_ group: GroupID, reason: String) {
        loop.preconditionInEventLoop()
        if group == Self.clusterGroup {
            guard !removed else { return }
            removed = true
            onRemoved?(reason)
            return
        }
        guard groups.removeValue(forKey: group) != nil else { return }
        awake.remove(group)
        // The group is refused from here on; its tombstone becomes durable with the fsync thread's next batch, and no
        // turn waits for it.
        let logger = logger
        do {
            try storage.destroyGroup(group) { error in
                if let error {
                    logger.error("removed the replica of \(group), but could not record its tombstone: \(error)")
                } else {
                    logger.notice("destroyed the replica of \(group): \(reason)")
                }
            }
        } catch {
            logger.error("removed the replica of \(group), but could not record its tombstone: \(error)")
        }
    }

    // MARK: Peers

    func address(of node: NodeID) -> MemberAddress? { addressBook.address(of: node) }

    /// A peer opened a connection to this node. Returns why it is refused, or nil if it may send consensus traffic.
    func peerSaidHello(_ hello: PeerHello) -> String? {
        loop.preconditionInEventLoop()
        let ours = identity.clusterID
        if hello.node == configuration.node {
            return "a peer says hello as node \(hello.node.rawValue), which is this node"
        }
        if address(of: hello.node) == nil {
            return "node \(hello.node.rawValue) is not a member this node knows of"
        }
        if let theirs = hello.clusterID, let ours, theirs != ours {
            return
                "node \(hello.node.rawValue) belongs to cluster \(ClusterIdentity.describe(theirs)), and this node to "
                + "cluster \(ClusterIdentity.describe(ours)); check the --cluster lists and peer addresses"
        }
        if let theirs = hello.clusterID, ours == nil {
            if let groups = hello.clusterGroups, !(1...ServerConfiguration.bootstrapGroupsMax).contains(groups) {
                return "node \(hello.node.rawValue) says its cluster was founded with \(groups) groups, beyond any"
                    + " --groups allows"
            }
            do {
                identity = try identity.adopting(
                    clusterID: theirs, clusterGroups: hello.clusterGroups, in: storage.directory)
            } catch {
                return "cannot record cluster \(ClusterIdentity.describe(theirs)) in the data directory: \(error)"
            }
            peers.hello.clusterID = theirs
            peers.hello.clusterGroups = hello.clusterGroups
            logger.info("joined cluster \(ClusterIdentity.describe(theirs)), as node \(hello.node.rawValue) says")
        }
        hellos[hello.node] = hello
        // A peer that (re)connects may have restarted and forgotten that it led.
        wakeFollowers(of: hello.node)
        heard(from: hello.node)
        return nil
    }

    /// Where `node` serves Redis, if it has said so in its hello.
    func redisAddress(of node: NodeID) -> String? { serviceAddress(of: node, port: hellos[node]?.redisPort) }

    /// Where `node` serves HTTP, if it has said so in its hello.
    func httpAddress(of node: NodeID) -> String? { serviceAddress(of: node, port: hellos[node]?.httpPort) }

    private func serviceAddress(of node: NodeID, port: Int?) -> String? {
        guard let host = address(of: node)?.host, let port else { return nil }
        return "\(host):\(port)"
    }

    /// A batch from `peer`, already checked to be sent by it. A group this node does not host gets nothing: its
    /// messages are dropped and counted, and never create the group.
    func receive(_ batch: PeerMessages) {
        loop.preconditionInEventLoop()
        for groupMessages in batch.groups {
            guard let runtime = stir(groupMessages.group) else {
                metrics.peerMessagesUnrouted.increment(by: Int64(groupMessages.messages.count))
                continue
            }
            runtime.receive(groupMessages.messages)
        }
    }

    /// Sends a Redis publication made here to every other node, for its subscribers. A peer whose connection is down
    /// or backed up misses it, and it is counted: delivery is at most once, as in Redis Cluster.
    func publish(_ publication: Publication) {
        loop.preconditionInEventLoop()
        let frame = publication.frame
        for peer in addressBook.members where peer != configuration.node {
            if !peers.sendIfWritable(frame, to: peer) { metrics.publicationsUnsent.increment() }
        }
    }

    /// A publication another node passed on.
    func receive(_ publication: Publication) {
        loop.preconditionInEventLoop()
        publicationReceived?(publication)
    }

    /// A leader says a group's committed configuration no longer includes this node.
    func noticeRemoval(_ notice: MembershipNotice) {
        loop.preconditionInEventLoop()
        metrics.membershipNotices.increment()
        stir(notice.group)?.noticeRemoval(notice)
    }

    /// `peer` asks whether a group's leader here still counts it a member.
    func answer(_ query: MembershipQuery, from peer: NodeID) {
        loop.preconditionInEventLoop()
        metrics.membershipQueries.increment()
        stir(query.group)?.answer(query, from: peer)
    }

    // MARK: Clients

    /// Routes a client request to the group it names; a group this node does not host is refused by name.
    func handle(_ request: ClientRequest, respond: @escaping GroupRuntime.Responder) {
        loop.preconditionInEventLoop()
        switch request.operation {
        case .groups:
            respond(ClientResponse(requestID: request.requestID, outcome: .groups(groupStatuses)))
            return
        case .createReplica:
            respond(ClientResponse(requestID: request.requestID, outcome: createReplica(of: request.group)))
            return
        case .access(let access):
            handleAccess(access, requestID: request.requestID, respond: respond)
            return
        default:
            break
        }
        guard let runtime = stir(request.group) else {
            let reason =
                storage.isTombstoned(request.group)
                ? GroupRefusal.removed(request.group) : GroupRefusal.notHosted(request.group)
            respond(ClientResponse(requestID: request.requestID, outcome: .failed(reason)))
            return
        }
        runtime.handle(request, respond: respond)
    }

    // MARK: Shutting down

    /// Hands the leadership of every group this node leads to its most caught-up other voter; returns the handovers
    /// asked for (asking again for one under way changes nothing).
    func handOverLeadership() -> [(GroupID, NodeID)] {
        loop.preconditionInEventLoop()
        return groups.keys.sorted().compactMap { id in
            guard let target = stir(id)?.handOverLeadership() else { return nil }
            return (id, target)
        }
    }

    /// Whether this node leads no group another voter could lead, no client waits on any, and no answer is being
    /// encoded off the loop.
    var isDrained: Bool {
        loop.preconditionInEventLoop()
        return answersEncoding == 0 && groups.values.allSatisfy { !$0.leadsWithOtherVoters && !$0.hasWaitingRequests }
    }

    /// Answers every client request still waiting, on every group, as unavailable with `reason`.
    func refuseWaiting(_ reason: String) {
        loop.preconditionInEventLoop()
        for group in groups.values { group.refuseWaiting(reason) }
    }

    /// The node's metrics in Prometheus's text format, the gauges sampled now.
    func metricsExposition() -> [UInt8] {
        loop.preconditionInEventLoop()
        metrics.sampleGroups(groupStatuses)
        metrics.sampleDisk(of: configuration.dataDirectory)
        return clusterGroup.metricsExposition()
    }
}
