import QuorumWire

/// One connection's channel and pattern subscriptions, and the confirmations SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE and
/// PUNSUBSCRIBE answer: one per channel or pattern, each with the connection's subscription count after it, as
/// Redis sends them (push messages in RESP3, arrays in RESP2). Pure: the node's registry (`RedisPubSub`) is told of
/// each change by the caller.
struct RedisSubscriptions {
    private(set) var channels: Set<[UInt8]> = []
    private(set) var patterns: Set<[UInt8]> = []

    /// What one connection may hold, so that a client cannot grow the node's registry without bound.
    static let perConnectionMax = 100_000

    var count: Int { channels.count + patterns.count }

    enum Change: Equatable {
        case subscribeChannel([UInt8])
        case unsubscribeChannel([UInt8])
        case subscribePattern([UInt8])
        case unsubscribePattern([UInt8])
    }

    static let commands: Set<String> = ["SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE"]

    /// Applies one of `commands`: its confirmations in order, and the changes to the node's registry.
    mutating func apply(_ command: RedisCommand) -> (confirmations: [RESPValue], changes: [Change]) {
        let isPattern = command.name.hasPrefix("P")
        let kind = Array(command.name.lowercased().utf8)
        var confirmations: [RESPValue] = []
        var changes: [Change] = []
        func confirm(_ name: [UInt8]?) {
            confirmations.append(
                .push([.bulkString(kind), name.map { .bulkString($0) } ?? .null, .integer(Int64(count))]))
        }
        if command.name.hasSuffix("UNSUBSCRIBE") {
            // Without arguments: every channel (or pattern) the connection has; with none, one confirmation naming
            // none.
            let current = isPattern ? patterns : channels
            let names =
                command.arguments.isEmpty ? current.sorted { $0.lexicographicallyPrecedes($1) } : command.arguments
            if names.isEmpty { confirm(nil) }
            for name in names {
                if isPattern {
                    if patterns.remove(name) != nil { changes.append(.unsubscribePattern(name)) }
                } else if channels.remove(name) != nil {
                    changes.append(.unsubscribeChannel(name))
                }
                confirm(name)
            }
        } else {
            for name in command.arguments {
                if isPattern {
                    if patterns.insert(name).inserted { changes.append(.subscribePattern(name)) }
                } else if channels.insert(name).inserted {
                    changes.append(.subscribeChannel(name))
                }
                confirm(name)
            }
        }
        return (confirmations, changes)
    }

    /// Whether SUBSCRIBE or PSUBSCRIBE with `command`'s arguments would pass `perConnectionMax`.
    func wouldOverflow(_ command: RedisCommand) -> Bool {
        !command.name.hasSuffix("UNSUBSCRIBE") && count + command.arguments.count > Self.perConnectionMax
    }

    /// Ends every subscription (RESET, or the connection closed): the changes to the node's registry.
    mutating func removeAll() -> [Change] {
        defer { (channels, patterns) = ([], []) }
        return channels.map { .unsubscribeChannel($0) } + patterns.map { .unsubscribePattern($0) }
    }

    /// In RESP2 a subscribed connection may only manage its subscriptions, PING, QUIT and RESET (RESP3 allows
    /// everything, since replies and pushes differ in type); the refusal for any other command, or nil.
    func refusal(of command: RedisCommand, protocolVersion: Int) -> RESPValue? {
        guard protocolVersion == 2, count > 0,
            !Self.commands.contains(command.name), !["PING", "QUIT", "RESET"].contains(command.name)
        else { return nil }
        return .error(
            "ERR Can't execute '\(command.name.lowercased())': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )
    }

    /// PING in RESP2 while subscribed answers as a push of "pong" and its argument (empty without one).
    func ping(_ command: RedisCommand, protocolVersion: Int) -> RESPValue? {
        guard protocolVersion == 2, count > 0, command.name == "PING", command.arguments.count <= 1 else { return nil }
        return .push([.bulkString(Array("pong".utf8)), .bulkString(command.arguments.first ?? [])])
    }
}
