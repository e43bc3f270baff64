import QuorumWire

/// One connection's subscriptions (channels, patterns and shard channels), and the confirmations SUBSCRIBE,
/// PSUBSCRIBE, SSUBSCRIBE and their unsubscribes answer: one per name, each with the connection's count after it, as
/// Redis sends them (push messages in RESP3, arrays in RESP2). Redis counts shard channels apart from the others.
/// Pure: the node's registry (`RedisPubSub`) is told of each change by the caller.
struct RedisSubscriptions {
    enum Scope: Hashable, CaseIterable, Sendable {
        case channel, pattern, shard

        /// SUBSCRIBE's scope is the channel, PSUBSCRIBE's the pattern, SSUBSCRIBE's the shard channel.
        init(of command: RedisCommand) {
            switch command.name {
            case "PSUBSCRIBE", "PUNSUBSCRIBE": self = .pattern
            case "SSUBSCRIBE", "SUNSUBSCRIBE": self = .shard
            default: self = .channel
            }
        }
    }

    private(set) var names: [Scope: Set<[UInt8]>] = [:]

    /// What one connection may hold, so that a client cannot grow the node's registry without bound.
    static let perConnectionMax = 100_000

    static let commands: Set<String> = [
        "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE",
    ]

    func names(_ scope: Scope) -> Set<[UInt8]> { names[scope] ?? [] }

    /// Every subscription the connection holds.
    var total: Int { Scope.allCases.reduce(0) { $0 + names($1).count } }

    /// The count a confirmation in `scope` reports: shard channels, or channels and patterns together.
    private func count(_ scope: Scope) -> Int {
        scope == .shard ? names(.shard).count : names(.channel).count + names(.pattern).count
    }

    enum Change: Hashable {
        case subscribe(Scope, [UInt8])
        case unsubscribe(Scope, [UInt8])
    }

    /// Applies one of `commands`: its confirmations in order, and the changes to the node's registry.
    mutating func apply(_ command: RedisCommand) -> (confirmations: [RESPValue], changes: [Change]) {
        let scope = Scope(of: command)
        let kind = Array(command.name.lowercased().utf8)
        var confirmations: [RESPValue] = []
        var changes: [Change] = []
        func confirm(_ name: [UInt8]?) {
            confirmations.append(
                .push([.bulkString(kind), name.map { .bulkString($0) } ?? .null, .integer(Int64(count(scope)))]))
        }
        if command.name.hasSuffix("UNSUBSCRIBE") {
            // Without arguments: every name the connection has in the scope; with none, one confirmation naming none.
            let current = names(scope)
            let chosen =
                command.arguments.isEmpty ? current.sorted { $0.lexicographicallyPrecedes($1) } : command.arguments
            if chosen.isEmpty { confirm(nil) }
            for name in chosen {
                if names[scope]?.remove(name) != nil { changes.append(.unsubscribe(scope, name)) }
                confirm(name)
            }
        } else {
            for name in command.arguments {
                if names[scope, default: []].insert(name).inserted { changes.append(.subscribe(scope, name)) }
                confirm(name)
            }
        }
        return (confirmations, changes)
    }

    /// Whether a subscribing `command` would pass `perConnectionMax`.
    func wouldOverflow(_ command: RedisCommand) -> Bool {
        !command.name.hasSuffix("UNSUBSCRIBE") && total + command.arguments.count > Self.perConnectionMax
    }

    /// Ends every subscription (RESET, or the connection closed): the changes to the node's registry.
    mutating func removeAll() -> [Change] {
        defer { names = [:] }
        return Scope.allCases.flatMap { scope in names(scope).map { .unsubscribe(scope, $0) } }
    }

    /// In RESP2 a subscribed connection may only manage its subscriptions, PING, QUIT and RESET (RESP3 allows
    /// everything, since replies and pushes differ in type); the refusal for any other command, or nil.
    func refusal(of command: RedisCommand, protocolVersion: Int) -> RESPValue? {
        guard protocolVersion == 2, total > 0,
            !Self.commands.contains(command.name), !["PING", "QUIT", "RESET"].contains(command.name)
        else { return nil }
        return .error(
            "ERR Can't execute '\(command.name.lowercased())': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )
    }

    /// PING in RESP2 while subscribed answers as a push of "pong" and its argument (empty without one).
    func ping(_ command: RedisCommand, protocolVersion: Int) -> RESPValue? {
        guard protocolVersion == 2, total > 0, command.name == "PING", command.arguments.count <= 1 else { return nil }
        return .push([.bulkString(Array("pong".utf8)), .bulkString(command.arguments.first ?? [])])
    }
}
