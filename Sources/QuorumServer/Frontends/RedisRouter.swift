import QuorumConsensus
import QuorumLua
import QuorumSharding
import QuorumWire

/// Where the Redis port sends each command. Standalone (a cluster founded with one group), everything goes to
/// group 1. In cluster mode (founded with several groups) the port is a Redis Cluster node: the 16,384 hash slots are
/// spread over the groups by the shard map, a command goes to the group that owns its keys' slot, and only that
/// group's leader serves it; anywhere else the client is told `MOVED slot host:port`, naming the leader's Redis port,
/// exactly as a Redis Cluster master that does not own the slot would. Keys of several slots in one command are
/// refused with `CROSSSLOT`, as Redis Cluster refuses them.
///
/// The map is group 1's (`ShardMapBook`): the founding assignment until a slot moves. During a move the source group
/// refuses the slot's keys once it has released them, and the port turns that refusal into `ASK`, naming the
/// target's leader; a client that then sends `ASKING` is served there by the group importing the slot, as Redis
/// Cluster's importing node serves it. Routing is only a hint: every replica checks at apply time that its group
/// still serves the key, so a request routed by a stale map is refused, never applied in the wrong group.
///
/// A node that joined later learns the founding group count with the cluster's id from the first member's hello;
/// until then it refuses keyed commands with CLUSTERDOWN.
final class RedisRouter: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop, where the port's connections run.
    let host: NodeHost
    private var executors: [GroupID: RedisExecutor] = [:]
    private let scanCursors = RedisScanCursors()
    /// The port's open connections (CLIENT LIST, INFO).
    let clients = RedisClients()
    /// The node's Lua scripts (EVAL, EVALSHA, SCRIPT), for every group it serves.
    let scripting: RedisScripting
    /// The node's subscribers (SUBSCRIBE, PSUBSCRIBE), who hear every node's publications.
    let pubSub = RedisPubSub()

    init(host: NodeHost) {
        self.host = host
        scripting = RedisScripting(
            loop: host.loop, busyThreshold: host.configuration.scriptBusyThreshold,
            limits: LuaScriptEngine.Limits(instructionsMax: host.configuration.scriptInstructionsMax))
        let pubSub = pubSub
        host.loop.execute { host.publicationReceived = { pubSub.deliver($0) } }
    }

    /// PUBLISH: to this node's subscribers, and passed on to every other node's. The number of subscribers here
    /// that got it, as a Redis Cluster node counts (those on other nodes are not waited for).
    @discardableResult
    func publish(_ publication: Publication) -> Int {
        host.publish(publication)
        return pubSub.deliver(publication)
    }

    enum Mode {
        case standalone
        case cluster(ShardMap)
        /// A node that joined has not yet heard from its cluster how many groups it was founded with.
        case awaitingCluster
    }

    var mode: Mode {
        guard let groups = host.identity.clusterGroups else { return .awaitingCluster }
        guard groups > 1 else { return .standalone }
        return .cluster(host.shardMapBook.map(foundingGroups: groups))
    }

    /// The shard map in cluster mode; nil otherwise.
    var shardMap: ShardMap? {
        if case .cluster(let map) = mode { map } else { nil }
    }

    enum Route {
        case executor(RedisExecutor)
        case refused(RESPValue)
    }

    /// The executor for a command with these keys, or the reply that sends the client elsewhere. `asking`: the
    /// client sent ASKING just before, after an `ASK` redirect.
    func route(keys: [[UInt8]], asking: Bool = false) -> Route {
        let map: ShardMap
        switch mode {
        case .standalone: return .executor(executor(of: host.clusterGroup))
        case .awaitingCluster: return .refused(.error("CLUSTERDOWN This node has not heard from its cluster yet"))
        case .cluster(let clusterMap): map = clusterMap
        }
        // A command without keys (an empty EXEC) touches no slot; any group of this node can run it.
        guard let slot = keys.first.map({ HashSlot(key: $0) }) else {
            return .executor(executor(of: host.clusterGroup))
        }
        guard keys.dropFirst().allSatisfy({ HashSlot(key: $0) == slot }) else {
            return .refused(.error("CROSSSLOT Keys in request don't hash to the same slot"))
        }
        if asking, let importer = ledGroups.first(where: { $0.runtime.takesAskedKey(keys[0]) }) {
            return .executor(executor(of: importer.runtime))
        }
        // Keys of a range-sharded keyspace go to their span's group; the group checks the others when they apply.
        let group = map.owner(ofKey: keys[0])
        guard let runtime = host.group(group), let leader = runtime.groupStatus.leader else {
            return .refused(.error("CLUSTERDOWN Hash slot not served"))
        }
        if leader == host.configuration.node { return .executor(executor(of: runtime)) }
        guard let address = host.redisAddress(of: leader) else {
            return .refused(.error("CLUSTERDOWN Hash slot not served"))
        }
        return .refused(.error("MOVED \(slot.rawValue) \(address)"))
    }

    /// Every group whose leader is this node, in group order, with its executor: what KEYS, DBSIZE and SCAN read, as
    /// a Redis Cluster node answers them for its own slots. Standalone, group 1.
    private var ledGroups: [(group: GroupID, runtime: GroupRuntime)] {
        guard let map = shardMap else { return [(host.clusterGroup.group, host.clusterGroup)] }
        return map.groups.sorted().compactMap { group in
            guard let runtime = host.group(group), runtime.groupStatus.leader == host.configuration.node else {
                return nil
            }
            return (group, runtime)
        }
    }

    /// Every live key of the groups this node leads (KEYS, DBSIZE).
    func liveKeysOfLedGroups(then done: @escaping @Sendable (Result<[[UInt8]], RedisReplyError>) -> Void) {
        Self.eachInTurn(ledGroups.map { self.executor(of: $0.runtime) }[...], gathered: [], done) { executor, next in
            executor.liveKeys(from: [], limit: 0) { next($0.map(\.keys)) }
        }
    }

    /// INFO's keyspace figures for the groups this node leads.
    func keyspaceCounts(then done: @escaping @Sendable (Result<RedisSession.KeyspaceCounts, RedisReplyError>) -> Void) {
        let executors = ledGroups.map { self.executor(of: $0.runtime) }[...]
        Self.eachInTurn(executors, gathered: [], { result in
            done(result.map { counts in counts.reduce(.init(keys: 0, expires: 0)) {
                .init(keys: $0.keys + $1.keys, expires: $0.expires + $1.expires)
            } })
        }) { executor, next in
            executor.liveKeys(from: [], limit: 0) { result in
                next(result.map { [RedisSession.KeyspaceCounts(keys: $0.keys.count, expires: $0.expiring)] })
            }
        }
    }

    /// FLUSHDB and FLUSHALL: deletes every key of the groups this node leads.
    func flushLedGroups(then done: @escaping @Sendable (Result<Void, RedisReplyError>) -> Void) {
        let executors = ledGroups.map { self.executor(of: $0.runtime) }[...]
        Self.eachInTurn(executors, gathered: [Int](), { done($0.map { _ in }) }) { executor, next in
            executor.deleteEveryKey { next($0.map { [] }) }
        }
    }

    /// Runs `step` on each executor, one after another, gathering what each gives; stops at the first failure.
    private static func eachInTurn<Element: Sendable>(
        _ executors: ArraySlice<RedisExecutor>, gathered: [Element],
        _ done: @escaping @Sendable (Result<[Element], RedisReplyError>) -> Void,
        step:
            @escaping @Sendable (RedisExecutor, @escaping @Sendable (Result<[Element], RedisReplyError>) -> Void)
            -> Void
    ) {
        guard let executor = executors.first else { return done(.success(gathered)) }
        step(executor) { result in
            switch result {
            case .failure(let error): done(.failure(error))
            case .success(let more):
                eachInTurn(executors.dropFirst(), gathered: gathered + more, done, step: step)
            }
        }
    }

    /// Where a SCAN cursor resumes: the group to read (nil: the scan is over), its executor, and the key to read
    /// from. The groups this node leads are scanned one after another. Nil for a cursor this node does not know.
    func scanPosition(cursor: [UInt8]) -> (group: GroupID, executor: RedisExecutor, from: [UInt8])?? {
        guard let resumed = scanCursors.position(of: cursor) else { return nil }
        let start = resumed ?? RedisScanCursors.Position(group: GroupID(0), key: [])
        // The group may have lost its leadership here since the cursor was handed out: the scan goes on with the next.
        guard let next = ledGroups.first(where: { $0.group >= start.group }) else { return .some(nil) }
        return (next.group, executor(of: next.runtime), next.group == start.group ? start.key : [])
    }

    /// The cursor that resumes a scan at `key` of `group`, or after `group` when it has no more keys.
    func scanCursor(group: GroupID, next key: [UInt8]?) -> String {
        if let key { return String(scanCursors.cursor(resuming: .init(group: group, key: key))) }
        guard let following = ledGroups.first(where: { $0.group > group }) else { return "0" }
        return String(scanCursors.cursor(resuming: .init(group: following.group, key: [])))
    }

    /// Group 1's replica, which answers for the node (INFO, HELLO's role).
    var status: NodeStatus { host.clusterGroup.status }

    private func executor(of runtime: GroupRuntime) -> RedisExecutor {
        // A group destroyed and created again here has a new runtime: its executor starts afresh.
        if let executor = executors[runtime.group], executor.backend === runtime { return executor }
        let executor = RedisExecutor(backend: runtime)
        executor.valueBytesMax = min(executor.valueBytesMax, host.configuration.requestBytesMax)
        executor.publish = { [unowned self] in self.publish($0) }
        executors[runtime.group] = executor
        return executor
    }
}
