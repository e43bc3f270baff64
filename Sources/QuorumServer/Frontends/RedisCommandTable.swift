import QuorumWire

/// The commands the port knows, with Redis's arity (the argument count including the name; negative: at least
/// that many) and how each one reaches the store, which decides what it may overlap with on its connection.
enum RedisCommandTable {
    enum Kind {
        /// Answered by the connection itself (PING, HELLO, CLIENT, ...).
        case connection
        /// A linearizable read of its keys (GET, MGET, TTL, ...).
        case read
        /// Reads keys, then writes them in one compared transaction (INCR, SET NX, DEL, ...); SET and MSET
        /// without conditions go straight to the log instead (`RedisExecutor.isBlindWrite`).
        case readWrite
        /// Reads a range of the keyspace (KEYS, SCAN, DBSIZE).
        case keyspace
        /// Deletes every key (FLUSHDB, FLUSHALL).
        case flush
        /// Lua scripting (EVAL, EVALSHA, their _RO forms, SCRIPT): `RedisScripting`. EVAL's keys are named by its
        /// numkeys argument, so its key spec is none, as Redis's COMMAND reports it.
        case script
        /// Publish and subscribe (`RedisPubSub`): answered by the connection and the node, never the store.
        case pubSub
    }

    /// Where a command's keys are among its arguments, as Redis's COMMAND reports it: from the `first` argument to
    /// the `last` (negative: counted from the end, -1 the last), every `step`-th. All zero: no keys.
    struct KeySpec: Sendable {
        var first: Int
        var last: Int
        var step: Int

        static let none = KeySpec(first: 0, last: 0, step: 0)
        static let one = KeySpec(first: 1, last: 1, step: 1)
        static let two = KeySpec(first: 1, last: 2, step: 1)
        static let all = KeySpec(first: 1, last: -1, step: 1)
        /// Every argument but the last (BLPOP's timeout).
        static let allButLast = KeySpec(first: 1, last: -2, step: 1)
        static let pairs = KeySpec(first: 1, last: -1, step: 2)
    }

    struct Entry: Sendable {
        var arity: Int
        var kind: Kind
        var keys: KeySpec
    }

    static func lookup(_ name: String) -> Entry? { commands[name] }

    static func arityHolds(_ command: RedisCommand) -> Bool {
        guard let arity = commands[command.name]?.arity else { return true }
        let count = command.arguments.count + 1
        return arity >= 0 ? count == arity : count >= -arity
    }

    /// The keys `command` names, by its key spec (none for a command the table does not know).
    static func keys(of command: RedisCommand) -> [[UInt8]] {
        guard let spec = commands[command.name]?.keys, spec.step > 0 else { return [] }
        let arguments = command.arguments
        // Positions count the command's name as 0, as Redis's do.
        let last = spec.last < 0 ? arguments.count + 1 + spec.last : spec.last
        guard spec.first <= last, last <= arguments.count else { return [] }
        return stride(from: spec.first, through: last, by: spec.step).map { arguments[$0 - 1] }
    }

    /// COMMAND's answer: for each command its name, arity, flags and key positions, which cluster clients (redis-py's
    /// RedisCluster) read to find a command's keys and so its slot.
    static func commandInfo(names: [String]? = nil) -> RESPValue {
        let selected = names ?? commands.keys.sorted()
        return .array(
            selected.map { name in
                guard let entry = commands[name] else { return .null }
                let flags: [String] =
                    switch entry.kind {
                    case .read: ["readonly", "fast"]
                    case .readWrite: ["write"]
                    case .keyspace: ["readonly"]
                    case .flush: ["write"]
                    case .connection: ["fast"]
                    case .script: ["noscript", "movablekeys"]
                    case .pubSub: ["pubsub", "loading", "stale"]
                    }
                return .array([
                    .bulkString(Array(name.lowercased().utf8)), .integer(Int64(entry.arity)),
                    .array(flags.map { .simpleString($0) }), .integer(Int64(entry.keys.first)),
                    .integer(Int64(entry.keys.last)), .integer(Int64(entry.keys.step)),
                ])
            })
    }

    private static let commands: [String: Entry] = {
        var table: [String: Entry] = [:]
        func add(_ kind: Kind, _ keys: KeySpec, _ arities: [String: Int]) {
            for (name, arity) in arities { table[name] = Entry(arity: arity, kind: kind, keys: keys) }
        }
        add(
            .connection, .none,
            [
                "PING": -1, "ECHO": 2, "HELLO": -1, "CLIENT": -2, "SELECT": 2, "INFO": -1, "COMMAND": -1, "CONFIG": -2,
                "QUIT": -1, "RESET": 1, "MULTI": 1, "EXEC": 1, "DISCARD": 1, "UNWATCH": 1, "CLUSTER": -2,
                "ASKING": 1, "READONLY": 1, "READWRITE": 1, "AUTH": -2, "ACL": -2,
            ])
        add(.connection, .all, ["WATCH": -2])
        add(.read, .one, ["GET": 2, "STRLEN": 2, "TTL": 2, "PTTL": 2, "TYPE": 2])
        add(
            .read, .one,
            [
                "HGET": 3, "HMGET": -3, "HGETALL": 2, "HKEYS": 2, "HVALS": 2, "HLEN": 2, "HEXISTS": 3, "HSTRLEN": 3,
                "HSCAN": -3, "ZSCORE": 3, "ZCARD": 2, "ZRANK": 3, "ZREVRANK": 3, "ZCOUNT": 4, "ZRANGE": -4,
                "ZREVRANGE": -4, "ZRANGEBYSCORE": -4, "ZREVRANGEBYSCORE": -4, "ZRANGEBYLEX": -4, "ZREVRANGEBYLEX": -4,
                "SMEMBERS": 2, "SISMEMBER": 3, "SMISMEMBER": -3, "SCARD": 2, "LLEN": 2, "LRANGE": 4, "LINDEX": 3,
            ])
        add(
            .readWrite, .one,
            [
                "HSET": -4, "HMSET": -4, "HSETNX": 4, "HDEL": -3, "HINCRBY": 4, "ZADD": -4, "ZINCRBY": 4, "ZREM": -3,
                "ZREMRANGEBYSCORE": 4, "SADD": -3, "SREM": -3, "LPUSH": -3, "RPUSH": -3, "LPUSHX": -3, "RPUSHX": -3,
                "LPOP": -2, "RPOP": -2, "LREM": 4,
            ])
        add(.readWrite, .two, ["LMOVE": 5])
        add(.readWrite, .allButLast, ["BLPOP": -3, "BRPOP": -3])
        add(.read, .all, ["MGET": -2, "EXISTS": -2])
        add(.read, KeySpec(first: 2, last: 2, step: 1), ["OBJECT": -2])
        add(
            .readWrite, .one,
            [
                "SET": -3, "SETNX": 3, "GETSET": 3, "DELIFEQ": 3, "INCR": 2, "DECR": 2, "INCRBY": 3, "DECRBY": 3,
                "APPEND": 3, "EXPIRE": -3, "PEXPIRE": -3, "EXPIREAT": -3, "PEXPIREAT": -3, "PERSIST": 2,
            ])
        add(.readWrite, .all, ["DEL": -2, "UNLINK": -2])
        add(.readWrite, .pairs, ["MSET": -3])
        add(.keyspace, .none, ["KEYS": 2, "SCAN": -2, "DBSIZE": 1])
        add(.flush, .none, ["FLUSHDB": -1, "FLUSHALL": -1])
        add(
            .pubSub, .none,
            [
                "SUBSCRIBE": -2, "UNSUBSCRIBE": -1, "PSUBSCRIBE": -2, "PUNSUBSCRIBE": -1, "SSUBSCRIBE": -2,
                "SUNSUBSCRIBE": -1, "PUBLISH": 3, "SPUBLISH": 3, "PUBSUB": -2,
            ])
        add(.script, .none, ["EVAL": -3, "EVALSHA": -3, "EVAL_RO": -3, "EVALSHA_RO": -3, "SCRIPT": -2])
        return table
    }()

    static var count: Int { commands.count }

    /// Redis 7's functions, which Quorum does not run (its scripts, EVAL and EVALSHA, it does).
    static let functions: Set<String> = ["FCALL", "FCALL_RO", "FUNCTION"]
}
