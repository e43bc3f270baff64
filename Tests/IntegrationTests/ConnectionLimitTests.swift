import Foundation
import QuorumClient
import QuorumConsensus
import QuorumWire
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Bounds on what clients can hold open: `--max-connections` and `--redis-idle-timeout`, on real processes.
extension ClusterTests {
    @Test(
        "the Redis port refuses connections beyond --max-connections, as Redis's maxclients, and closes idle ones but spares subscribers and blocked pops"
    )
    func redisConnectionLimits() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: [
            "--max-connections", "3", "--redis-idle-timeout", "2",
        ])
        defer { cluster.stopAll() }
        // The leader's port: a blocked pop waits only where writes are served.
        let port = try #require(cluster.members[try await Self.awaitLeader(client, cluster) - 1].redisPort)
        let subscriber = try BlockingSocket(port: port)
        #expect(try subscriber.exchange("SUBSCRIBE idle-news\r\n") == "*3\r\n$9\r\nsubscribe\r\n$9\r\nidle-news\r\n:1\r\n")
        let blocked = try BlockingSocket(port: port)
        try blocked.send("BLPOP idle-list 0\r\n")
        let third = try BlockingSocket(port: port)
        #expect(try third.exchange("PING\r\n") == "+PONG\r\n")
        let refused = try BlockingSocket(port: port)
        #expect(try refused.readUntilClosed() == "-ERR max number of clients reached\r\n")
        refused.close()

        // Once one closes, its place is free again (the server learns of the close on its own loop).
        third.close()
        let admitted = try await Self.poll {
            guard let connection = try? BlockingSocket(port: port) else { return false }
            defer { connection.close() }
            return (try? connection.exchange("PING\r\n")) == "+PONG\r\n"
        }
        #expect(admitted, "no connection was admitted after one closed")

        // A connection that says nothing for the idle timeout is closed. The subscriber and the blocked pop, silent
        // for longer, are not: they still get a publication and a push.
        let quiet = try await Self.connectWhenAdmitted(port: port)
        #expect(try quiet.readUntilClosed() == "")
        quiet.close()
        let publisher = try await Self.connectWhenAdmitted(port: port)
        #expect(try publisher.exchange("PUBLISH idle-news hi\r\n") == ":1\r\n")
        #expect(try subscriber.receive(count: 40) == "*3\r\n$7\r\nmessage\r\n$9\r\nidle-news\r\n$2\r\nhi\r\n")
        #expect(try publisher.exchange("RPUSH idle-list x\r\n") == ":1\r\n")
        #expect(try blocked.receive(count: 26) == "*2\r\n$9\r\nidle-list\r\n$1\r\nx\r\n")
        for connection in [subscriber, blocked, publisher] { connection.close() }
        await client.close()
    }

    /// A connection to `port` once the node has a place for it (it frees a closed connection's place on its loop).
    private static func connectWhenAdmitted(port: Int) async throws -> BlockingSocket {
        for _ in 0..<200 {
            let connection = try BlockingSocket(port: port)
            if (try? connection.exchange("PING\r\n")) == "+PONG\r\n" { return connection }
            connection.close()
            try await Task.sleep(for: .milliseconds(50))
        }
        throw POSIXError(.ECONNREFUSED)
    }
}

extension ClusterTests {
    @Test("watches beyond --max-watches are refused with the reason, and cancelled ones stop counting")
    func watchLimit() async throws {
        let (cluster, first) = try await Self.startCluster(arguments: ["--max-watches", "2"])
        defer { cluster.stopAll() }
        try await expectTwoWatchesAndNoMore(of: "first", through: first)
        // The client cancels its watches as it closes; its successor gets the two places.
        await first.close()
        let second = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        try await expectTwoWatchesAndNoMore(of: "second", through: second)
        await second.close()
    }

    @Test("one connection holds at most --max-watches-per-connection watches; another connection gets its own")
    func watchLimitPerConnection() async throws {
        let (cluster, first) = try await Self.startCluster(arguments: ["--max-watches-per-connection", "2"])
        defer { cluster.stopAll() }
        try await expectTwoWatchesAndNoMore(of: "first", through: first, refusal: "on this connection")
        // The first still holds its two: another connection is not refused on its account.
        let second = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        try await expectTwoWatchesAndNoMore(of: "second", through: second, refusal: "on this connection")
        await first.close()
        await second.close()
    }

    /// A node used to forget a watch only when a change in its range found the connection closed: connections that
    /// vanished without cancelling (a crashed client) counted against `--max-watches` for as long as their keys
    /// stayed quiet.
    @Test("a connection that closes without cancelling its watches stops counting")
    func abandonedWatchesAreForgotten() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        await client.close()
        let member = cluster.members[0]
        let http = HTTPClient()
        func watchersServed() async throws -> Double? {
            let metrics = try await http.send("GET", member, "/metrics").text
            let sample = metrics.split(separator: "\n").first { $0.hasPrefix("quorum_server_watchers{") }
            return sample.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        }
        let sockets = try (0..<2).map { _ in try BlockingSocket(port: member.clientPort) }
        for socket in sockets {
            let frame = ClientRequest(
                requestID: 1, group: GroupID(1),
                operation: .watch(key: Array("abandoned".utf8), rangeEnd: nil, startRevision: nil)
            ).frame
            try socket.send(bytes: frame.header + frame.payload)
        }
        #expect(try await Self.poll { try await watchersServed() == 2 }, "the two watches never started")
        for socket in sockets { socket.close() }
        #expect(try await Self.poll { try await watchersServed() == 0 }, "a closed connection's watches still count")
    }

    /// Opens three watches on `name` at the node the client writes through: two see the next change, the third is
    /// refused.
    private func expectTwoWatchesAndNoMore(
        of name: String, through client: QuorumClient, refusal expected: String = "too many watches"
    ) async throws {
        let key = Array(name.utf8)
        let value = "changed"
        try await client.put(key, Array("before".utf8))
        let admitted = [try await client.watch(key), try await client.watch(key)]
        let refused = try await client.watch(key)
        try await client.put(key, Array(value.utf8))
        for watch in admitted {
            var events = watch.makeAsyncIterator()
            #expect(try await events.next()?.first?.kv.value == Array(value.utf8))
        }
        var refusal: String?
        do {
            for try await _ in refused { break }
        } catch QuorumClientError.watchEnded(let reason, _) {
            refusal = reason
        }
        #expect(refusal?.contains(expected) == true, "the third watch was not refused: \(refusal ?? "-")")
    }
}
