import QuorumWire

/// The node's Redis subscriptions: which connections listen to which channels, patterns and shard channels, and
/// delivery of a publication to them. A publication made on another node arrives over the peer link (`Publication`)
/// and is delivered here the same way, so a subscriber hears every node's publications, at most once each, as in
/// Redis Cluster.
final class RedisPubSub: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop, where the port's connections run.

    /// What a connection is handed: the publication, and the pattern it matched (nil for a channel or shard
    /// channel subscription).
    typealias Deliver = (_ publication: Publication, _ pattern: [UInt8]?) -> Void

    private var subscribers: [RedisSubscriptions.Scope: [[UInt8]: [Int64: Deliver]]] = [:]
    private var globs: [[UInt8]: RedisGlob] = [:]

    func subscribe(_ connection: Int64, _ scope: RedisSubscriptions.Scope, _ name: [UInt8], deliver: @escaping Deliver)
    {
        subscribers[scope, default: [:]][name, default: [:]][connection] = deliver
        if scope == .pattern, globs[name] == nil { globs[name] = RedisGlob(name) }
    }

    func unsubscribe(_ connection: Int64, _ scope: RedisSubscriptions.Scope, _ name: [UInt8]) {
        subscribers[scope]?[name]?[connection] = nil
        guard subscribers[scope]?[name]?.isEmpty == true else { return }
        subscribers[scope]?[name] = nil
        if scope == .pattern { globs[name] = nil }
    }

    /// Delivers to this node's subscribers: a shard publication to the shard channel's, any other to the channel's
    /// and then to each matching pattern's, as Redis does. The number of deliveries (a connection subscribed to the
    /// channel and to a matching pattern gets it twice, and counts twice).
    @discardableResult
    func deliver(_ publication: Publication) -> Int {
        var delivered = 0
        let scope: RedisSubscriptions.Scope = publication.sharded ? .shard : .channel
        for deliver in subscribers[scope]?[publication.channel]?.values ?? [:].values {
            deliver(publication, nil)
            delivered += 1
        }
        guard !publication.sharded else { return delivered }
        for (pattern, connections) in subscribers[.pattern] ?? [:]
        where globs[pattern]?.matches(publication.channel) == true {
            for deliver in connections.values {
                deliver(publication, pattern)
                delivered += 1
            }
        }
        return delivered
    }

    /// PUBSUB CHANNELS or SHARDCHANNELS [pattern]: the names with a subscriber here.
    func names(_ scope: RedisSubscriptions.Scope, matching pattern: [UInt8]?) -> [[UInt8]] {
        let glob = pattern.map(RedisGlob.init)
        return (subscribers[scope] ?? [:]).keys.filter { glob?.matches($0) ?? true }
            .sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// PUBSUB NUMSUB or SHARDNUMSUB: the subscribers of `name` here.
    func subscriberCount(_ scope: RedisSubscriptions.Scope, _ name: [UInt8]) -> Int {
        subscribers[scope]?[name]?.count ?? 0
    }

    /// PUBSUB NUMPAT: the distinct patterns subscribed to here.
    var patternCount: Int { subscribers[.pattern]?.count ?? 0 }

    /// PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS and SHARDNUMSUB, of this node's subscribers (as a Redis
    /// Cluster node answers them).
    func answer(_ command: RedisCommand) -> RESPValue {
        let arguments = command.arguments
        switch command.option(0) {
        case "CHANNELS" where arguments.count <= 2, "SHARDCHANNELS" where arguments.count <= 2:
            let scope: RedisSubscriptions.Scope = command.option(0) == "CHANNELS" ? .channel : .shard
            return .array(names(scope, matching: arguments.count == 2 ? arguments[1] : nil).map { .bulkString($0) })
        case "NUMSUB", "SHARDNUMSUB":
            let scope: RedisSubscriptions.Scope = command.option(0) == "NUMSUB" ? .channel : .shard
            return .array(
                arguments.dropFirst().flatMap { [.bulkString($0), .integer(Int64(subscriberCount(scope, $0)))] })
        case "NUMPAT" where arguments.count == 1:
            return .integer(Int64(patternCount))
        case "CHANNELS", "SHARDCHANNELS", "NUMPAT":
            return .error("ERR wrong number of arguments for 'pubsub|\(command.argument(0).lowercased())' command")
        default:
            return .error("ERR unknown subcommand '\(command.argument(0))'. Try PUBSUB HELP.")
        }
    }
}
