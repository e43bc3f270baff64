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
    }

    static func lookup(_ name: String) -> (arity: Int, kind: Kind)? { commands[name] }

    static func arityHolds(_ command: RedisCommand) -> Bool {
        guard let arity = commands[command.name]?.arity else { return true }
        let count = command.arguments.count + 1
        return arity >= 0 ? count == arity : count >= -arity
    }

    private static let commands: [String: (arity: Int, kind: Kind)] = [
        "PING": (-1, .connection), "ECHO": (2, .connection), "HELLO": (-1, .connection), "CLIENT": (-2, .connection),
        "SELECT": (2, .connection), "INFO": (-1, .connection), "COMMAND": (-1, .connection),
        "CONFIG": (-2, .connection), "QUIT": (-1, .connection), "RESET": (1, .connection),
        "MULTI": (1, .connection), "EXEC": (1, .connection), "DISCARD": (1, .connection),
        "WATCH": (-2, .connection), "UNWATCH": (1, .connection),
        "GET": (2, .read), "MGET": (-2, .read), "EXISTS": (-2, .read), "STRLEN": (2, .read), "TTL": (2, .read),
        "PTTL": (2, .read),
        "SET": (-3, .readWrite), "SETNX": (3, .readWrite), "GETSET": (3, .readWrite), "MSET": (-3, .readWrite),
        "DEL": (-2, .readWrite), "UNLINK": (-2, .readWrite), "DELIFEQ": (3, .readWrite),
        "INCR": (2, .readWrite), "DECR": (2, .readWrite), "INCRBY": (3, .readWrite), "DECRBY": (3, .readWrite),
        "APPEND": (3, .readWrite), "EXPIRE": (-3, .readWrite), "PEXPIRE": (-3, .readWrite),
        "EXPIREAT": (-3, .readWrite), "PEXPIREAT": (-3, .readWrite), "PERSIST": (2, .readWrite),
        "KEYS": (2, .keyspace), "SCAN": (-2, .keyspace), "DBSIZE": (1, .keyspace),
    ]

    static var count: Int { commands.count }

    /// Scripting needs Lua, which Quorum does not run.
    static let scripting: Set<String> = [
        "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "SCRIPT", "FCALL", "FCALL_RO", "FUNCTION",
    ]
}
