import NIOCore
import NIOPosix
import QuorumClient
import QuorumWire
import Testing

/// A server that accepts connections and never answers: every command to it times out.
private final class SilentServer: Sendable {
    let channel: any Channel

    init() async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var endpoint: String { "127.0.0.1:\(channel.localAddress?.port ?? 0)" }

    func close() async { try? await channel.close() }
}

@Suite("Redis connection")
struct RedisConnectionTests {
    @Test("a command without an answer in time fails clearly and closes the connection")
    func timeout() async throws {
        let server = try await SilentServer()
        let connection = try await RedisConnection.connect(to: server.endpoint, commandTimeout: .milliseconds(100))
        await #expect(throws: RedisError.timedOut(endpoint: server.endpoint, command: "PING")) {
            try await connection.send(["PING"])
        }
        #expect(!connection.isOpen)
        await #expect(throws: RedisError.connectionClosed(endpoint: server.endpoint)) {
            try await connection.send(["PING"])
        }
        await server.close()
    }

    @Test("cancelling a waiting command ends it at once and closes the connection")
    func cancellation() async throws {
        let server = try await SilentServer()
        let connection = try await RedisConnection.connect(to: server.endpoint, commandTimeout: .seconds(60))
        let waiting = Task { try await connection.send(["BLPOP", "queue", "0"]) }
        waiting.cancel()
        await #expect(throws: RedisError.cancelled) { try await waiting.value }
        #expect(!connection.isOpen)
        await server.close()
    }

    @Test("an endpoint that is not HOST:PORT, or where nothing listens, is refused with the endpoint named")
    func connectFailures() async throws {
        await #expect(throws: RedisError.badEndpoint("localhost")) {
            try await RedisConnection.connect(to: "localhost")
        }
        await #expect(throws: RedisError.badEndpoint("localhost:0")) {
            try await RedisConnection.connect(to: "localhost:0")
        }
        let port = try ClusterProcesses.freePort()
        do {
            _ = try await RedisConnection.connect(to: "127.0.0.1:\(port)")
            Issue.record("connected to a port nobody listens on")
        } catch {
            guard case .connectFailed(let endpoint, _) = error else {
                Issue.record("wrong error: \(error)")
                return
            }
            #expect(endpoint == "127.0.0.1:\(port)")
            #expect(error.description.contains("is redis-server running there?"))
        }
    }

    @Test(
        "answers come back in command order; an error reply is an answer, not a broken connection",
        .enabled(if: RedisServers.isInstalled, "redis-server is not on PATH; install the Debian package redis-server"))
    func pipelineAndErrorReplies() async throws {
        let servers = try RedisServers(count: 1)
        defer { servers.stopAll() }
        try await servers.startAll()
        let connection = try await RedisConnection.connect(to: servers.endpoints[0])
        let answers = try await connection.pipeline([
            ["SET", "n", "41"], ["INCR", "n"], ["GET", "n"], ["GET", "missing"], ["NOSUCHCOMMAND"],
        ])
        #expect(answers.count == 5)
        #expect(Array(answers.prefix(4)) == [.simpleString("OK"), .integer(42), .bulkString("42"), .null])
        guard case .error(let message)? = answers.last else {
            Issue.record("expected an error reply, got \(answers)")
            return
        }
        #expect(message.hasPrefix("ERR unknown command"))
        #expect(try await connection.send(["PING"]) == .simpleString("PONG"))
        await connection.close()
    }
}
