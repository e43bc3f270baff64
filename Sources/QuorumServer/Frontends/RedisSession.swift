import QuorumConsensus
import QuorumStore
import QuorumWire

/// One connection's Redis state (protocol version, name, MULTI queue, watched keys) and the commands answered
/// from it alone. Pure, so that the replies clients parse on connect (HELLO, INFO, CONFIG GET) are unit-tested.
struct RedisSession {
    let id: Int64
    private(set) var protocolVersion = 2
    private(set) var name: [UInt8]?
    /// Commands queued since MULTI; nil outside MULTI.
    private(set) var queued: [RedisCommand]?
    /// A command was refused while queueing: EXEC must discard the transaction.
    private(set) var queueFailed = false
    /// Each watched key's mod revision when WATCH read it.
    private(set) var watched: [[UInt8]: Revision] = [:]
    /// INFO's cluster section when the port is a Redis Cluster node (`RedisRouter`); nil when standalone.
    let clusterInfo: @Sendable () -> String?
    /// The port's open connections, and those blocked in BLPOP or BRPOP, for INFO.
    let clientCounts: @Sendable () -> RedisClients.Counts

    init(
        id: Int64, clusterInfo: @escaping @Sendable () -> String? = { nil },
        clientCounts: @escaping @Sendable () -> RedisClients.Counts = { RedisClients.Counts(connected: 1, blocked: 0) }
    ) {
        self.id = id
        self.clusterInfo = clusterInfo
        self.clientCounts = clientCounts
    }

    var inMulti: Bool { queued != nil }

    /// Commands that run even inside MULTI instead of being queued.
    static let unqueued: Set<String> = ["EXEC", "DISCARD", "MULTI", "WATCH", "QUIT", "RESET"]

    /// Queues `command` inside MULTI (every command the port knows but SCRIPT and subscriptions, where Redis queues
    /// every command but those that end or watch the transaction): QUEUED, or the refusal that makes EXEC fail.
    mutating func enqueue(_ command: RedisCommand) -> RESPValue {
        guard RedisCommandTable.lookup(command.name) != nil, command.name != "SCRIPT",
            !RedisSubscriptions.commands.contains(command.name)
        else {
            queueFailed = true
            if RedisCommandTable.functions.contains(command.name) { return Self.functionsRefusal(command) }
            if RedisCommandTable.lookup(command.name) == nil { return command.unknownError }
            return .error("ERR \(command.name) is not supported inside MULTI by Quorum")
        }
        guard RedisCommandTable.arityHolds(command) else {
            queueFailed = true
            return command.arityError
        }
        queued?.append(command)
        return .simpleString("QUEUED")
    }

    /// A command refused while queueing outside `enqueue` (for want of a permission): EXEC must discard.
    mutating func failQueueing() { queueFailed = true }

    mutating func watch(_ revisions: [[UInt8]: Revision]) {
        // A key watched twice keeps its first revision: a change in between must still abort EXEC.
        watched.merge(revisions) { first, _ in first }
    }

    /// Ends MULTI for EXEC: the queued commands and watches, or the error EXEC answers instead.
    mutating func takeTransaction() -> Result<(commands: [RedisCommand], watched: [[UInt8]: Revision]), RedisReplyError>
    {
        defer {
            queued = nil
            queueFailed = false
            watched = [:]
        }
        guard let commands = queued else { return .failure(RedisReplyError("ERR EXEC without MULTI")) }
        if queueFailed {
            return .failure(RedisReplyError("EXECABORT Transaction discarded because of previous errors."))
        }
        return .success((commands, watched))
    }

    /// Answers a command that needs no store access; nil when `command` is not one.
    mutating func answer(_ command: RedisCommand, status: NodeStatus) -> RESPValue? {
        let arguments = command.arguments
        switch command.name {
        case "PING":
            guard arguments.count <= 1 else { return command.arityError }
            return arguments.first.map { .bulkString($0) } ?? .simpleString("PONG")
        case "ECHO":
            return .bulkString(arguments[0])
        case "QUIT":
            return .ok
        case "RESET":
            self = RedisSession(id: id, clusterInfo: clusterInfo, clientCounts: clientCounts)
            return .simpleString("RESET")
        case "SELECT":
            return command.argument(0) == "0" ? .ok : .error("ERR DB index is out of range")
        case "HELLO":
            return hello(command, status: status)
        case "CLIENT":
            return client(command)
        case "INFO":
            return info(command, status: status, keyspace: nil)
        case "COMMAND":
            switch arguments.first.map({ String(decoding: $0, as: UTF8.self).uppercased() }) {
            case "COUNT": return .integer(Int64(RedisCommandTable.count))
            case "INFO":
                let names = arguments.dropFirst().map { String(decoding: $0, as: UTF8.self).uppercased() }
                return RedisCommandTable.commandInfo(names: names)
            case nil: return RedisCommandTable.commandInfo()
            // DOCS among them, as before Redis 7: redis-cli then builds its hints and HELP from its own table of every
            // Redis command, where empty docs would leave it none.
            default: return .error("ERR unknown subcommand '\(command.argument(0))'. Try COMMAND HELP.")
            }
        case "CONFIG":
            return config(command)
        case "AUTH":
            guard arguments.count <= 2 else { return command.arityError }
            guard arguments.count == 2 else {
                return .error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
                )
            }
            return Self.authenticate(user: arguments[0]) ?? .ok
        case "MULTI":
            guard queued == nil else { return .error("ERR MULTI calls can not be nested") }
            queued = []
            return .ok
        case "DISCARD":
            guard queued != nil else { return .error("ERR DISCARD without MULTI") }
            queued = nil
            queueFailed = false
            watched = [:]
            return .ok
        case "UNWATCH":
            watched = [:]
            return .ok
        default:
            return RedisCommandTable.functions.contains(command.name) ? Self.functionsRefusal(command) : nil
        }
    }

    /// The port has no passwords, as a Redis whose only user is `default` with `nopass`: that user is let in
    /// whatever the password, any other is refused as unknown. The refusal, or nil.
    static func authenticate(user: [UInt8]) -> RESPValue? {
        user == Array("default".utf8) ? nil : .error("WRONGPASS invalid username-password pair or user is disabled.")
    }

    static func functionsRefusal(_ command: RedisCommand) -> RESPValue {
        .error("ERR \(command.name) is not supported by Quorum: it runs Lua scripts (EVAL, EVALSHA), not functions")
    }

    private mutating func hello(_ command: RedisCommand, status: NodeStatus) -> RESPValue {
        var index = 0
        var version = protocolVersion
        if let first = command.arguments.first {
            guard let requested = Int(String(decoding: first, as: UTF8.self)), requested == 2 || requested == 3 else {
                return .error("NOPROTO unsupported protocol version")
            }
            version = requested
            index = 1
        }
        var newName = name
        while index < command.arguments.count {
            switch command.option(index) {
            case "AUTH" where index + 2 < command.arguments.count:
                if let refusal = Self.authenticate(user: command.arguments[index + 1]) { return refusal }
                index += 3
            case "SETNAME" where index + 1 < command.arguments.count:
                newName = command.arguments[index + 1]
                index += 2
            default: return .error("ERR Syntax error in HELLO option '\(command.argument(index))'")
            }
        }
        protocolVersion = version
        name = newName
        return .map([
            .init(.bulkString("server"), .bulkString("redis")),
            .init(.bulkString("version"), .bulkString(Self.redisVersion)),
            .init(.bulkString("proto"), .integer(Int64(version))),
            .init(.bulkString("id"), .integer(id)),
            .init(.bulkString("mode"), .bulkString(clusterInfo() == nil ? "standalone" : "cluster")),
            .init(.bulkString("role"), .bulkString(status.role == "leader" ? "master" : "replica")),
            .init(.bulkString("modules"), .array([])),
        ])
    }

    private mutating func client(_ command: RedisCommand) -> RESPValue {
        switch command.option(0) {
        case "SETNAME":
            guard command.arguments.count == 2 else { return command.arityError }
            guard !command.arguments[1].contains(where: { $0 <= 0x20 || $0 >= 0x7f }) else {
                return .error("ERR Client names cannot contain spaces, newlines or special characters.")
            }
            name = command.arguments[1].isEmpty ? nil : command.arguments[1]
            return .ok
        case "GETNAME":
            return name.map { .bulkString($0) } ?? .null
        case "ID":
            return .integer(id)
        // Library name and version (redis-py sends them on connect), tracking, reply modes: accepted, unused.
        case "SETINFO", "NO-EVICT", "NO-TOUCH", "REPLY":
            return .ok
        default:
            return .error("ERR unknown subcommand '\(command.argument(0))'. Try CLIENT HELP.")
        }
    }

    private func config(_ command: RedisCommand) -> RESPValue {
        guard command.option(0) == "GET" else {
            return .error("ERR CONFIG \(command.argument(0)) is not supported by Quorum")
        }
        var entries: [RESPValue.MapEntry] = []
        for pattern in command.arguments.dropFirst() {
            let glob = RedisGlob(Array(String(decoding: pattern, as: UTF8.self).lowercased().utf8))
            for (name, value) in Self.configuration where glob.matches(Array(name.utf8)) {
                entries.append(.init(.bulkString(name), .bulkString(value)))
            }
        }
        return .map(entries)
    }

    static let redisVersion = "7.0.0"

    /// What CONFIG GET reports: every write is fsynced to the log before it is acknowledged, which is what
    /// appendonly with appendfsync always promises; there are no RDB snapshots to schedule.
    static let configuration: [(String, String)] = [
        ("save", ""), ("appendonly", "yes"), ("appendfsync", "always"), ("databases", "1"),
        ("maxmemory", "0"), ("maxmemory-policy", "noeviction"),
    ]

    /// What INFO's keyspace section counts: the live keys, and those with a TTL.
    struct KeyspaceCounts: Equatable, Sendable {
        var keys: Int
        var expires: Int
    }

    /// INFO [section ...]: Redis's sections with the fields clients read. `keyspace` nil leaves the keyspace
    /// section empty (INFO inside MULTI, which reads no keys).
    func info(_ command: RedisCommand, status: NodeStatus, keyspace: KeyspaceCounts?) -> RESPValue {
        let requested = Set(command.arguments.map { String(decoding: $0, as: UTF8.self).lowercased() })
        let everything = requested.isEmpty || !requested.isDisjoint(with: ["all", "default", "everything"])
        let sections = Self.infoSections(
            status: status, cluster: clusterInfo(), clients: clientCounts(), keyspace: keyspace)
        let text = sections.filter { everything || requested.contains($0.name.lowercased()) }.map { section in
            (["# \(section.name)"] + section.lines).joined(separator: "\r\n") + "\r\n"
        }.joined(separator: "\r\n")
        return .bulkString(text)
    }

    /// INFO's sections; `cluster` is the cluster section of a Redis Cluster node, nil when standalone.
    static func infoSections(
        status: NodeStatus, cluster: String?, clients: RedisClients.Counts, keyspace: KeyspaceCounts?
    ) -> [(name: String, lines: [String])] {
        let memory = RedisProcessMemory.residentBytes()
        let keyspaceLines = keyspace.flatMap { counts in
            counts.keys == 0 ? nil : ["db0:keys=\(counts.keys),expires=\(counts.expires),avg_ttl=0"]
        }
        return [
            (
                "Server",
                [
                    "redis_version:\(redisVersion)", "redis_mode:\(cluster == nil ? "standalone" : "cluster")",
                    "arch_bits:\(MemoryLayout<Int>.size * 8)", "multiplexing_api:epoll",
                    "quorum_node:\(status.node.rawValue)",
                ]
            ),
            (
                "Clients",
                ["connected_clients:\(clients.connected)", "blocked_clients:\(clients.blocked)", "maxclients:10000"]
            ),
            (
                "Memory",
                [
                    "used_memory:\(memory)", "used_memory_human:\(memory / 1024)K", "maxmemory:0",
                    "maxmemory_policy:noeviction",
                ]
            ),
            ("Persistence", ["loading:0", "aof_enabled:1", "rdb_changes_since_last_save:0"]),
            (
                "Stats",
                [
                    "total_connections_received:\(clients.connectionsReceived)",
                    "total_commands_processed:\(clients.commandsProcessed)",
                ]
            ),
            (
                "Replication",
                [
                    "role:\(status.role == "leader" ? "master" : "slave")", "quorum_role:\(status.role)",
                    "quorum_leader:\(status.leader?.rawValue ?? 0)", "quorum_term:\(status.term.rawValue)",
                    "quorum_commit_index:\(status.commitIndex.rawValue)",
                ]
            ),
            ("Cluster", [cluster ?? "cluster_enabled:0"]),
            ("Keyspace", keyspaceLines ?? []),
        ]
    }
}
