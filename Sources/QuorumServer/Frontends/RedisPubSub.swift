import QuorumWire

/// The node's Redis subscriptions: which connections listen to which channels and patterns, and delivery of a
/// publication to them. A publication made on another node arrives over the peer link (`Publication`) and is
/// delivered here the same way, so a subscriber hears every node's publications, at most once each, as in Redis
/// Cluster.
final class RedisPubSub: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop, where the port's connections run.

    /// Hands one publication to a connection: the pattern it matched (nil for a channel subscription), the channel,
    /// the message.
    typealias Deliver = (_ pattern: [UInt8]?, _ channel: [UInt8], _ message: [UInt8]) -> Void

    private var channels: [[UInt8]: [Int64: Deliver]] = [:]
    private var patterns: [[UInt8]: (glob: RedisGlob, subscribers: [Int64: Deliver])] = [:]

    func subscribe(_ connection: Int64, channel: [UInt8], deliver: @escaping Deliver) {
        channels[channel, default: [:]][connection] = deliver
    }

    func unsubscribe(_ connection: Int64, channel: [UInt8]) {
        channels[channel]?[connection] = nil
        if channels[channel]?.isEmpty == true { channels[channel] = nil }
    }

    func subscribe(_ connection: Int64, pattern: [UInt8], deliver: @escaping Deliver) {
        patterns[pattern, default: (RedisGlob(pattern), [:])].subscribers[connection] = deliver
    }

    func unsubscribe(_ connection: Int64, pattern: [UInt8]) {
        patterns[pattern]?.subscribers[connection] = nil
        if patterns[pattern]?.subscribers.isEmpty == true { patterns[pattern] = nil }
    }

    /// Delivers to this node's subscribers, channel subscribers first, as Redis does; the number of deliveries (a
    /// connection subscribed to the channel and to a matching pattern gets it twice, and counts twice).
    @discardableResult
    func deliver(_ publication: Publication) -> Int {
        var delivered = 0
        for deliver in channels[publication.channel]?.values ?? [:].values {
            deliver(nil, publication.channel, publication.message)
            delivered += 1
        }
        for (pattern, subscription) in patterns where subscription.glob.matches(publication.channel) {
            for deliver in subscription.subscribers.values {
                deliver(pattern, publication.channel, publication.message)
                delivered += 1
            }
        }
        return delivered
    }

    /// PUBSUB CHANNELS [pattern]: the channels with a subscriber here.
    func channelNames(matching pattern: [UInt8]?) -> [[UInt8]] {
        let glob = pattern.map(RedisGlob.init)
        return channels.keys.filter { glob?.matches($0) ?? true }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// PUBSUB NUMSUB: the subscribers of `channel` here.
    func subscriberCount(of channel: [UInt8]) -> Int { channels[channel]?.count ?? 0 }

    /// PUBSUB NUMPAT: the distinct patterns subscribed to here.
    var patternCount: Int { patterns.count }

    /// PUBSUB CHANNELS, NUMSUB and NUMPAT, of this node's subscribers (as a Redis Cluster node answers them).
    func answer(_ command: RedisCommand) -> RESPValue {
        let arguments = command.arguments
        switch command.option(0) {
        case "CHANNELS" where arguments.count <= 2:
            return .array(channelNames(matching: arguments.count == 2 ? arguments[1] : nil).map { .bulkString($0) })
        case "NUMSUB":
            return .array(
                arguments.dropFirst().flatMap { [.bulkString($0), .integer(Int64(subscriberCount(of: $0)))] })
        case "NUMPAT" where arguments.count == 1:
            return .integer(Int64(patternCount))
        case "CHANNELS", "NUMPAT":
            return .error("ERR wrong number of arguments for 'pubsub|\(command.argument(0).lowercased())' command")
        default:
            return .error("ERR unknown subcommand '\(command.argument(0))'. Try PUBSUB HELP.")
        }
    }
}
