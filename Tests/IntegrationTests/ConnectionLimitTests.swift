import Foundation
import QuorumClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Bounds on what clients can hold open: `--max-connections` and `--redis-idle-timeout`, on real processes.
extension ClusterTests {
    @Test("the Redis port refuses connections beyond --max-connections, as Redis's maxclients, and closes idle ones")
    func redisConnectionLimits() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: [
            "--max-connections", "3", "--redis-idle-timeout", "2",
        ])
        defer { cluster.stopAll() }
        let port = try #require(cluster.members[0].redisPort)
        var held = try (0..<3).map { _ in try BlockingSocket(port: port) }
        for connection in held { #expect(try connection.exchange("PING\r\n") == "+PONG\r\n") }
        let refused = try BlockingSocket(port: port)
        #expect(try refused.readUntilClosed() == "-ERR max number of clients reached\r\n")
        refused.close()

        // Once one closes, its place is free again (the server learns of the close on its own loop).
        held.removeFirst().close()
        let admitted = try await Self.poll {
            guard let connection = try? BlockingSocket(port: port) else { return false }
            defer { connection.close() }
            return (try? connection.exchange("PING\r\n")) == "+PONG\r\n"
        }
        #expect(admitted, "no connection was admitted after one closed")

        // A connection that says nothing for the idle timeout is closed; one that keeps talking is not.
        #expect(try held[0].readUntilClosed() == "")
        for connection in held { connection.close() }
        await client.close()
    }
}
