import Foundation

/// The port's open connections, for CLIENT LIST and INFO's `connected_clients`, `blocked_clients` and stats. Each
/// connection describes itself when asked, so the registry never holds a stale copy of a name or a last command.
final class RedisClients: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop, where the port's connections run.
    private var describers: [Int64: () -> String] = [:]
    /// Connections waiting in BLPOP or BRPOP.
    private var blocked: Set<Int64> = []
    private var connectionsReceived = 0
    private var commandsProcessed = 0

    struct Counts: Sendable {
        var connected: Int
        var blocked: Int
        /// Since the node started, as Redis's `total_connections_received` and `total_commands_processed`.
        var connectionsReceived = 0
        var commandsProcessed = 0
    }

    var counts: Counts {
        Counts(
            connected: describers.count, blocked: blocked.count, connectionsReceived: connectionsReceived,
            commandsProcessed: commandsProcessed)
    }

    func add(_ id: Int64, describe: @escaping () -> String) {
        describers[id] = describe
        connectionsReceived += 1
    }

    /// A command was answered.
    func processed() { commandsProcessed += 1 }

    func remove(_ id: Int64) {
        describers[id] = nil
        blocked.remove(id)
    }

    func setBlocked(_ id: Int64, _ isBlocked: Bool) {
        if isBlocked { blocked.insert(id) } else { blocked.remove(id) }
    }

    /// CLIENT LIST: one line per connection, oldest first.
    var list: String { describers.keys.sorted().compactMap { describers[$0]?() }.map { $0 + "\n" }.joined() }
}

/// What CLIENT LIST and CLIENT INFO say of one connection, in Redis's `field=value` form (the fields clients parse;
/// buffer and memory figures Quorum does not track are 0).
struct RedisClientDescription {
    var id: Int64
    var address: String
    var localAddress: String
    var name: [UInt8]?
    var connectedAt: ContinuousClock.Instant
    var lastCommandAt: ContinuousClock.Instant
    var lastCommand: String
    var inMulti: Bool
    /// Waiting in BLPOP or BRPOP.
    var isBlocked = false
    var queued: Int
    var protocolVersion: Int
    /// Channels, patterns and shard channels subscribed to.
    var channels = 0
    var patterns = 0
    var shardChannels = 0

    /// Redis's flags for the states Quorum has: in MULTI, blocked, subscribed, else none.
    private var flags: String {
        let set = (inMulti ? "x" : "") + (isBlocked ? "b" : "") + (channels + patterns + shardChannels > 0 ? "P" : "")
        return set.isEmpty ? "N" : set
    }

    func line(now: ContinuousClock.Instant) -> String {
        let fields: [(String, String)] = [
            ("id", "\(id)"), ("addr", address), ("laddr", localAddress), ("fd", "-1"),
            ("name", name.map { String(decoding: $0, as: UTF8.self) } ?? ""),
            ("age", "\((now - connectedAt).components.seconds)"),
            ("idle", "\((now - lastCommandAt).components.seconds)"),
            ("flags", flags), ("db", "0"), ("sub", "\(channels)"), ("psub", "\(patterns)"),
            ("ssub", "\(shardChannels)"),
            ("multi", inMulti ? "\(queued)" : "-1"), ("qbuf", "0"), ("qbuf-free", "0"), ("argv-mem", "0"),
            ("multi-mem", "0"), ("rbs", "0"), ("rbp", "0"), ("obl", "0"), ("oll", "0"), ("omem", "0"),
            ("tot-mem", "0"), ("events", "r"), ("cmd", lastCommand), ("user", "default"), ("redir", "-1"),
            ("resp", "\(protocolVersion)"),
        ]
        return fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}
