import Foundation

/// The port's open connections, for CLIENT LIST and INFO's `connected_clients`. Each connection describes itself
/// when asked, so the registry never holds a stale copy of a name or a last command.
final class RedisClients: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop, where the port's connections run.
    private var describers: [Int64: () -> String] = [:]

    var count: Int { describers.count }

    func add(_ id: Int64, describe: @escaping () -> String) { describers[id] = describe }

    func remove(_ id: Int64) { describers[id] = nil }

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
    var queued: Int
    var protocolVersion: Int
    /// Channels, patterns and shard channels subscribed to.
    var channels = 0
    var patterns = 0
    var shardChannels = 0

    func line(now: ContinuousClock.Instant) -> String {
        let fields: [(String, String)] = [
            ("id", "\(id)"), ("addr", address), ("laddr", localAddress), ("fd", "-1"),
            ("name", name.map { String(decoding: $0, as: UTF8.self) } ?? ""),
            ("age", "\((now - connectedAt).components.seconds)"), ("idle", "\((now - lastCommandAt).components.seconds)"),
            ("flags", inMulti ? "x" : (channels + patterns + shardChannels > 0 ? "P" : "N")), ("db", "0"), ("sub", "\(channels)"), ("psub", "\(patterns)"), ("ssub", "\(shardChannels)"),
            ("multi", inMulti ? "\(queued)" : "-1"), ("qbuf", "0"), ("qbuf-free", "0"), ("argv-mem", "0"),
            ("multi-mem", "0"), ("rbs", "0"), ("rbp", "0"), ("obl", "0"), ("oll", "0"), ("omem", "0"),
            ("tot-mem", "0"), ("events", "r"), ("cmd", lastCommand), ("user", "default"), ("redir", "-1"),
            ("resp", "\(protocolVersion)"),
        ]
        return fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}
