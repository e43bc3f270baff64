import Foundation
import QuorumClient
import QuorumLua
import QuorumWire
import Testing

@testable import QuorumServer

#if canImport(Glibc)
    import Glibc
#endif

/// Publish and subscribe on the Redis port: byte for byte as redis-server answers, across the nodes of a real
/// cluster (redis-py's pub/sub client included), and a subscriber that does not read is disconnected rather than
/// buffered for without bound. An extension of `ClusterTests` so that it runs serialized with the other clusters.
extension ClusterTests {
    @Test(
        "Redis pub/sub: the same conversation gets the same bytes from Quorum as from redis-server, in RESP2 and RESP3",
        .enabled(if: RedisServers.isInstalled, "redis-server is not on PATH; install the Debian package redis-server"))
    func pubSubMatchesRedis() async throws {
        let (servers, cluster) = try await Self.startBesideRedis()
        defer {
            servers.stopAll()
            cluster.stopAll()
        }

        let redis = try PubSubConversation(port: servers.ports[0])
        let quorum = try PubSubConversation(port: try #require(cluster.members[0].redisPort))
        defer {
            redis.close()
            quorum.close()
        }
        for (number, step) in PubSubConversation.steps.enumerated() {
            let expected = try redis.run(step)
            let got = try quorum.run(step)
            guard step.compared else { continue }
            #expect(
                got == expected,
                "step \(number + 1) `\(step.command.joined(separator: " "))` on connection \(step.connection)")
        }
    }

    @Test(
        "Redis pub/sub: a publication on one node reaches the subscribers of every node, in order; redis-py's pub/sub client too",
        .enabled(if: RedisTools.redisPy, "python3 with redis-py not found: pip install redis"))
    func publicationsReachEveryNode() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        await client.close()
        let ports = try cluster.members.map { try #require($0.redisPort) }

        // A channel subscriber on every node, and a pattern subscriber on one.
        var subscribers = try ports.map { try PubSubConversation(port: $0) }
        subscribers.append(try PubSubConversation(port: ports[1]))
        defer { for subscriber in subscribers { subscriber.close() } }
        for subscriber in subscribers.dropLast() {
            _ = try subscriber.run(.init(0, ["SUBSCRIBE", "news"], replies: 1))
        }
        _ = try #require(subscribers.last).run(.init(0, ["PSUBSCRIBE", "ne*"], replies: 1))

        // Peer connections open as the cluster runs; until one is open a publication to that node is lost (at most
        // once). Publish until every subscriber heard one, then every later publication must reach all of them.
        let publisher = try PubSubConversation(port: ports[leaderID - 1])
        defer { publisher.close() }
        var heard = Array(repeating: false, count: subscribers.count)
        for attempt in 0..<200 where !heard.allSatisfy({ $0 }) {
            _ = try publisher.run(.init(0, ["PUBLISH", "news", "warm-up \(attempt)"], replies: 1))
            for (index, subscriber) in subscribers.enumerated()
            where try subscriber.hasPending(within: .milliseconds(50)) {
                while try subscriber.hasPending(within: .milliseconds(50)) { _ = try subscriber.next() }
                heard[index] = true
            }
        }
        #expect(heard.allSatisfy { $0 }, "some subscribers never heard a publication: \(heard)")

        let count = 100
        for number in 0..<count {
            let reply = try publisher.run(.init(0, ["PUBLISH", "news", "message \(number)"], replies: 1))
            // Counted as a Redis Cluster node counts: this node's subscribers only.
            #expect(reply == [RESPValue.integer(ports[leaderID - 1] == ports[1] ? 2 : 1).encoded()])
        }
        for (index, subscriber) in subscribers.enumerated() {
            let isPattern = index == subscribers.count - 1
            for number in 0..<count {
                let message = Array("message \(number)".utf8)
                let expected: RESPValue =
                    isPattern
                    ? .push([
                        .bulkString(Array("pmessage".utf8)), .bulkString(Array("ne*".utf8)),
                        .bulkString(Array("news".utf8)), .bulkString(message),
                    ])
                    : .push([.bulkString(Array("message".utf8)), .bulkString(Array("news".utf8)), .bulkString(message)])
                let got = try subscriber.next()
                guard got == expected.encoded() else {
                    Issue.record(
                        "subscriber \(index) got \(String(decoding: got, as: UTF8.self)) for message \(number)")
                    break
                }
            }
        }

        // redis-py's PubSub on a follower, fed by a publisher on the leader, in RESP2 and RESP3.
        let follower = ports[leaderID % ports.count]
        let run = try await RedisTools.run(
            "/usr/bin/env", ["python3", "-c", Self.redisPyPubSubScript, "\(follower)", "\(ports[leaderID - 1])"])
        #expect(run.status == 0, "redis-py pub/sub script failed: \(run.output.suffix(3000))")
        #expect(run.output.contains("redis-py pubsub ok"))
    }

    /// Subscribes through redis-py on one node (argv[1]) and publishes on another (argv[2]); every message after the
    /// first one heard must arrive, in order, on the channel and the pattern subscription alike.
    static let redisPyPubSubScript = #"""
        import sys, time, redis
        subscriber_port, publisher_port = int(sys.argv[1]), int(sys.argv[2])
        for protocol in (2, 3):
            subscriber = redis.Redis(host="127.0.0.1", port=subscriber_port, protocol=protocol)
            publisher = redis.Redis(host="127.0.0.1", port=publisher_port, protocol=protocol)
            pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
            # The Swift pattern subscriber above may be on this node too: count from what is there already.
            patterns_before = subscriber.pubsub_numpat()
            pubsub.subscribe("py-news")
            pubsub.psubscribe("py-*")
            # Wait until the peer link carries publications: publish until one arrives.
            deadline = time.time() + 30
            first = None
            while first is None and time.time() < deadline:
                publisher.publish("py-news", "warm-up")
                first = pubsub.get_message(timeout=0.1)
            assert first is not None, "no publication arrived"
            time.sleep(0)
            while pubsub.get_message(timeout=0.5) is not None:
                pass
            for number in range(20):
                publisher.publish("py-news", f"m{number}")
            got = []
            while len(got) < 40:
                message = pubsub.get_message(timeout=5)
                assert message is not None, f"only {len(got)} of 40 messages arrived: {got}"
                got.append((message["type"], message["data"]))
            channel = [data for kind, data in got if kind == "message"]
            pattern = [data for kind, data in got if kind == "pmessage"]
            expected = [f"m{number}".encode() for number in range(20)]
            assert channel == expected, channel
            assert pattern == expected, pattern
            assert subscriber.pubsub_numsub("py-news") == [(b"py-news", 1)]
            assert subscriber.pubsub_numpat() == patterns_before + 1
            pubsub.unsubscribe("py-news")
            pubsub.punsubscribe("py-*")
            pubsub.close()
        print("redis-py pubsub ok")
        """#

    @Test("Redis pub/sub: a subscriber that reads nothing is disconnected at 32 MiB unread; the publisher is unharmed")
    func slowSubscriberIsDisconnected() async throws {
        let cluster = try await Self.startOneNode()
        defer { cluster.stopAll() }
        let port = try #require(cluster.members[0].redisPort)
        let subscriber = try PubSubConversation(port: port)
        defer { subscriber.close() }
        _ = try subscriber.run(.init(0, ["SUBSCRIBE", "flood"], replies: 1))

        // 64 MiB of messages: more than the limit plus what the kernel's socket buffers can hold.
        let publisher = try PubSubConversation(port: port)
        defer { publisher.close() }
        let message = String(repeating: "x", count: 1 << 20)
        var delivered = 0
        for _ in 0..<64 {
            let reply = try publisher.run(.init(0, ["PUBLISH", "flood", message], replies: 1))
            if reply == [RESPValue.integer(1).encoded()] { delivered += 1 }
        }
        #expect(delivered < 64, "every publication reached the subscriber that reads nothing")
        #expect(try publisher.run(.init(0, ["PING"], replies: 1)) == [RESPValue.simpleString("PONG").encoded()])
        // The node closed the subscriber: what was written reaches it, then the end of the connection.
        #expect(throws: Never.self) { try subscriber.drainUntilClosed() }
    }
}

extension ClusterTests {
    @Test(
        "Redis pub/sub: a script's publication is delivered once its writes apply, and a failed script publishes nothing",
        .enabled(if: luaInstalled, "Lua 5.1 not found: apt-get install liblua5.1-0"))
    func scriptsPublishWhenTheirWritesApply() async throws {
        let cluster = try await Self.startOneNode()
        defer { cluster.stopAll() }
        let port = try #require(cluster.members[0].redisPort)
        let subscriber = try PubSubConversation(port: port)
        defer { subscriber.close() }
        _ = try subscriber.run(.init(0, ["SUBSCRIBE", "events"], replies: 1))
        func message(_ text: String) -> [UInt8] {
            RESPValue.push([
                .bulkString(Array("message".utf8)), .bulkString(Array("events".utf8)), .bulkString(Array(text.utf8)),
            ])
            .encoded()
        }
        // Redisson's unlock, in short: write, then tell the waiters.
        let unlock = "redis.call('set', KEYS[1], ARGV[1]) redis.call('publish', 'events', ARGV[1]) return 1"
        let failing =
            "redis.call('set', KEYS[1], 'half') redis.call('publish', 'events', 'never') return redis.call('nope')"
        #expect(
            try subscriber.run(.init(1, ["EVAL", unlock, "1", "lock", "released"], replies: 1)) == [
                RESPValue.integer(1).encoded()
            ])
        #expect(try subscriber.next() == message("released"))
        let failed = try subscriber.run(.init(1, ["EVAL", failing, "1", "lock"], replies: 1))
        #expect(String(decoding: failed.first ?? [], as: UTF8.self).hasPrefix("-ERR Unknown Redis command"))
        // The next message the subscriber gets is the one published after the failed script, and the key kept
        // the first script's value.
        #expect(
            try subscriber.run(.init(1, ["PUBLISH", "events", "after"], replies: 1)) == [RESPValue.integer(1).encoded()]
        )
        #expect(try subscriber.next() == message("after"))
        #expect(
            try subscriber.run(.init(1, ["GET", "lock"], replies: 1)) == [
                RESPValue.bulkString(Array("released".utf8)).encoded()
            ])
    }
}

extension ClusterTests {
    /// A publication to a peer whose link is backed up is dropped; it once also made the node dial the peer again,
    /// leaving the backed-up connection open beside the new one, one more for every publication.
    @Test("Redis pub/sub: publications to a stopped peer are dropped and counted, and open no second connection to it")
    func backedUpPeerLinkIsNotDoubled() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        await client.close()
        let leader = cluster.members[leaderID - 1]
        let stopped = try #require(cluster.members.first { $0.id != leaderID })
        cluster.signal(stopped.id, SIGSTOP)
        defer { cluster.signal(stopped.id, SIGCONT) }
        let publisher = try PubSubConversation(port: try #require(leader.redisPort), connections: 1)
        defer { publisher.close() }
        let http = HTTPClient()
        let message = String(repeating: "p", count: 1 << 20)
        var unsent = 0.0
        for _ in 0..<200 where unsent == 0 {
            _ = try publisher.run(.init(0, ["PUBLISH", "flood", message], replies: 1))
            unsent = try await Self.sample("quorum_network_publications_unsent_total", of: leader, http: http)
        }
        #expect(unsent > 0, "the stopped peer's link never backed up")
        for _ in 0..<20 { _ = try publisher.run(.init(0, ["PUBLISH", "flood", message], replies: 1)) }
        // The two other members hold one connection each to the stopped node's peer port, as before the flood.
        #expect(Self.establishedConnections(toPort: stopped.peerPort) <= 2)
    }

    /// Established TCP connections on this machine whose remote end is `port` on any address.
    static func establishedConnections(toPort port: Int) -> Int {
        ["/proc/net/tcp", "/proc/net/tcp6"].reduce(0) { count, path in
            let table = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return count
                + table.split(separator: "\n").dropFirst().filter { line in
                    let fields = line.split(separator: " ")
                    guard fields.count > 3, fields[3] == "01", let remote = fields[2].split(separator: ":").last
                    else { return false }
                    return Int(remote, radix: 16) == port
                }.count
        }
    }
}

/// A scripted pub/sub conversation over raw sockets, for byte-exact comparison: each step sends one command on one
/// of the conversation's connections and reads a given number of complete RESP values from each connection.
final class PubSubConversation: Sendable {
    struct Step: Sendable {
        var connection: Int
        var command: [String]
        /// How many values each connection receives after the command: the sender's replies and other connections'
        /// messages.
        var replies: [Int: Int]
        /// False for a step whose answer names the server (HELLO).
        var compared = true

        init(_ connection: Int, _ command: [String], replies: Int, others: [Int: Int] = [:], compared: Bool = true) {
            self.connection = connection
            self.command = command
            self.replies = others.merging([connection: replies]) { $1 }
            self.compared = compared
        }
    }

    /// Two connections: 0 subscribes, 1 publishes. Every step's output is the same on redis-server and on Quorum,
    /// with no order that depends on a hash table (one channel left when UNSUBSCRIBE lists them all).
    static let steps: [Step] = [
        .init(0, ["SUBSCRIBE", "ch1", "ch2"], replies: 2),
        .init(0, ["PSUBSCRIBE", "c*"], replies: 1),
        .init(0, ["SSUBSCRIBE", "s1", "s2"], replies: 2),
        .init(1, ["SPUBLISH", "s1", "sharded"], replies: 1, others: [0: 1]),
        .init(1, ["PUBLISH", "s1", "nobody"], replies: 1),
        .init(1, ["PUBSUB", "SHARDNUMSUB", "s1", "zz"], replies: 1),
        .init(1, ["PUBSUB", "SHARDCHANNELS", "s1*"], replies: 1),
        .init(0, ["SUNSUBSCRIBE", "s1"], replies: 1),
        .init(0, ["SUNSUBSCRIBE"], replies: 1),
        .init(0, ["SUNSUBSCRIBE"], replies: 1),
        .init(0, ["GET", "x"], replies: 1),
        .init(0, ["PING"], replies: 1),
        .init(0, ["PING", "hi"], replies: 1),
        .init(1, ["PUBLISH", "ch1", "hello"], replies: 1, others: [0: 2]),
        .init(1, ["PUBLISH", "ch2", ""], replies: 1, others: [0: 2]),
        .init(1, ["PUBLISH", "other", "nobody"], replies: 1),
        .init(1, ["PUBSUB", "NUMSUB", "ch1", "zz"], replies: 1),
        .init(1, ["PUBSUB", "NUMPAT"], replies: 1),
        .init(1, ["PUBSUB", "CHANNELS", "ch1*"], replies: 1),
        .init(1, ["PUBSUB", "FOO"], replies: 1),
        .init(1, ["PUBSUB"], replies: 1),
        .init(0, ["UNSUBSCRIBE", "ch1", "nope"], replies: 2),
        .init(0, ["UNSUBSCRIBE"], replies: 1),
        .init(0, ["PUNSUBSCRIBE"], replies: 1),
        .init(0, ["PUNSUBSCRIBE"], replies: 1),
        .init(0, ["UNSUBSCRIBE"], replies: 1),
        .init(0, ["GET", "x"], replies: 1),
        .init(0, ["SUBSCRIBE"], replies: 1),
        .init(0, ["HELLO", "3"], replies: 1, compared: false),
        .init(0, ["SUBSCRIBE", "c3"], replies: 1),
        .init(0, ["GET", "x"], replies: 1),
        .init(0, ["PING"], replies: 1),
        .init(1, ["PUBLISH", "c3", "m"], replies: 1, others: [0: 1]),
        .init(1, ["MULTI"], replies: 1),
        .init(1, ["PUBLISH", "c3", "queued"], replies: 1),
        .init(1, ["EXEC"], replies: 1, others: [0: 1]),
        .init(0, ["RESET"], replies: 1),
        .init(1, ["PUBLISH", "c3", "m"], replies: 1),
    ]

    private let sockets: [BlockingSocket]
    private let buffers: [Buffer]

    /// Bytes read from one socket and not yet handed out.
    private final class Buffer: @unchecked Sendable {
        // @unchecked Sendable: used by the one test that owns the conversation.
        var bytes: [UInt8] = []
    }

    init(port: Int, connections: Int = 2) throws {
        sockets = try (0..<connections).map { _ in try BlockingSocket(port: port) }
        buffers = sockets.map { _ in Buffer() }
    }

    func close() { for socket in sockets { socket.close() } }

    /// Runs one step: for each connection, the values it received, each as its bytes on the wire.
    func run(_ step: Step) throws -> [[UInt8]] {
        let encoded = RESPValue.array(step.command.map { .bulkString(Array($0.utf8)) }).encoded()
        try sockets[step.connection].send(bytes: encoded)
        var received: [[UInt8]] = []
        for connection in step.replies.keys.sorted() {
            for _ in 0..<step.replies[connection]! { received.append(try next(on: connection)) }
        }
        return received
    }

    /// The next complete value on `connection`, waiting for it.
    func next(on connection: Int = 0) throws -> [UInt8] {
        let buffer = buffers[connection]
        while true {
            if let end = Self.end(of: buffer.bytes, from: 0) {
                defer { buffer.bytes.removeFirst(end) }
                return Array(buffer.bytes[..<end])
            }
            buffer.bytes += try sockets[connection].receiveSome()
        }
    }

    /// Whether a value (or the start of one) is waiting on connection 0, or arrives within `wait`.
    func hasPending(within wait: Duration) throws -> Bool {
        if !buffers[0].bytes.isEmpty { return true }
        guard let bytes = try sockets[0].receiveSome(within: wait) else { return false }
        buffers[0].bytes += bytes
        return true
    }

    /// Reads connection 0 until the server closes it; throws if it stays open past the socket's read timeout.
    func drainUntilClosed() throws {
        buffers[0].bytes = []
        _ = try sockets[0].readUntilClosed()
    }

    /// The index just past the RESP value that starts at `start`, or nil while it is incomplete.
    static func end(of bytes: [UInt8], from start: Int) -> Int? {
        guard start < bytes.count, let lineEnd = lineEnd(in: bytes, from: start) else { return nil }
        let header = Int(String(decoding: bytes[(start + 1)..<lineEnd], as: UTF8.self)) ?? 0
        let next = lineEnd + 2
        switch bytes[start] {
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            guard header >= 0 else { return next }
            return next + header + 2 <= bytes.count ? next + header + 2 : nil
        case UInt8(ascii: "*"), UInt8(ascii: ">"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            let elements = bytes[start] == UInt8(ascii: "%") || bytes[start] == UInt8(ascii: "|") ? 2 * header : header
            var position = next
            for _ in 0..<max(elements, 0) {
                guard let end = end(of: bytes, from: position) else { return nil }
                position = end
            }
            return position
        default:
            return next
        }
    }

    private static func lineEnd(in bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "\r"), bytes[index + 1] == UInt8(ascii: "\n") { return index }
            index += 1
        }
        return nil
    }
}

@Suite("Redis subscriptions of one connection")
struct RedisSubscriptionsTests {
    private func command(_ words: String...) -> RedisCommand {
        RedisCommand(name: words[0], arguments: words.dropFirst().map { Array($0.utf8) })
    }

    private func push(_ kind: String, _ name: String?, _ count: Int64) -> RESPValue {
        .push([.bulkString(Array(kind.utf8)), name.map { .bulkString(Array($0.utf8)) } ?? .null, .integer(count)])
    }

    @Test(
        "each name is confirmed with the connection's count after it (shard channels counted apart); the registry hears only real changes"
    )
    func confirmationsAndChanges() {
        let (a, b, star) = (Array("a".utf8), Array("b".utf8), Array("a*".utf8))
        var subscriptions = RedisSubscriptions()
        var result = subscriptions.apply(command("SUBSCRIBE", "a", "b", "a"))
        #expect(
            result.confirmations == [push("subscribe", "a", 1), push("subscribe", "b", 2), push("subscribe", "a", 2)])
        #expect(result.changes == [.subscribe(.channel, a), .subscribe(.channel, b)])
        result = subscriptions.apply(command("PSUBSCRIBE", "a*"))
        #expect(result.confirmations == [push("psubscribe", "a*", 3)])
        result = subscriptions.apply(command("SSUBSCRIBE", "a"))
        #expect(result.confirmations == [push("ssubscribe", "a", 1)])
        #expect(result.changes == [.subscribe(.shard, a)])
        result = subscriptions.apply(command("UNSUBSCRIBE", "zz", "a"))
        #expect(result.confirmations == [push("unsubscribe", "zz", 3), push("unsubscribe", "a", 2)])
        #expect(result.changes == [.unsubscribe(.channel, a)])
        result = subscriptions.apply(command("UNSUBSCRIBE"))
        #expect(result.confirmations == [push("unsubscribe", "b", 1)])
        result = subscriptions.apply(command("UNSUBSCRIBE"))
        #expect(result.confirmations == [push("unsubscribe", nil, 1)])
        #expect(result.changes.isEmpty)
        #expect(subscriptions.total == 2)
        #expect(Set(subscriptions.removeAll()) == [.unsubscribe(.pattern, star), .unsubscribe(.shard, a)])
        #expect(subscriptions.total == 0)
    }

    @Test("in RESP2 a subscribed connection may only manage subscriptions, PING, QUIT and RESET; RESP3 allows all")
    func subscribedContext() {
        var subscriptions = RedisSubscriptions()
        #expect(subscriptions.refusal(of: command("GET", "k"), protocolVersion: 2) == nil)
        _ = subscriptions.apply(command("SUBSCRIBE", "a"))
        #expect(subscriptions.refusal(of: command("GET", "k"), protocolVersion: 2) != nil)
        #expect(subscriptions.refusal(of: command("GET", "k"), protocolVersion: 3) == nil)
        for allowed in ["PING", "QUIT", "RESET", "UNSUBSCRIBE", "PSUBSCRIBE"] {
            #expect(subscriptions.refusal(of: command(allowed), protocolVersion: 2) == nil)
        }
        #expect(
            subscriptions.ping(command("PING", "x"), protocolVersion: 2)
                == .push([.bulkString(Array("pong".utf8)), .bulkString(Array("x".utf8))]))
        #expect(subscriptions.ping(command("PING"), protocolVersion: 3) == nil)
    }

    @Test(
        "the node's registry delivers to channel subscribers, then to matching patterns, shard publications to shard subscribers only"
    )
    func registryDelivers() {
        let pubSub = RedisPubSub()
        let news = Array("news".utf8)
        var heard: [String] = []
        func text(_ bytes: [UInt8]?) -> String { String(decoding: bytes ?? [], as: UTF8.self) }
        pubSub.subscribe(1, .channel, news) { publication, _ in heard.append("1:" + text(publication.message)) }
        pubSub.subscribe(2, .pattern, Array("n*".utf8)) { publication, pattern in
            heard.append("2:\(text(pattern)):" + text(publication.message))
        }
        pubSub.subscribe(1, .pattern, Array("x*".utf8)) { _, _ in heard.append("never") }
        pubSub.subscribe(3, .shard, news) { publication, _ in heard.append("3:" + text(publication.message)) }
        #expect(pubSub.deliver(Publication(channel: news, message: Array("hi".utf8))) == 2)
        #expect(heard == ["1:hi", "2:n*:hi"])
        #expect(pubSub.deliver(Publication(channel: news, message: Array("s".utf8), sharded: true)) == 1)
        #expect(heard.last == "3:s")
        #expect(pubSub.subscriberCount(.channel, news) == 1)
        #expect(pubSub.subscriberCount(.shard, news) == 1)
        #expect(pubSub.patternCount == 2)
        pubSub.unsubscribe(1, .channel, news)
        pubSub.unsubscribe(2, .pattern, Array("n*".utf8))
        #expect(pubSub.deliver(Publication(channel: news, message: Array("hi".utf8))) == 0)
        #expect(pubSub.names(.channel, matching: nil).isEmpty)
        #expect(pubSub.names(.shard, matching: nil) == [news])
        #expect(pubSub.patternCount == 1)
    }
}
