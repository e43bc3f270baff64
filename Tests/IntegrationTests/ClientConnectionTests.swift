import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumWire
import Testing

@testable import QuorumClient

@Suite("Client connection")
struct ClientConnectionTests {
    /// A server that accepts a connection and closes it at once, as a node does when it is killed.
    static func closingServer(group: any EventLoopGroup) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { channel.close(promise: nil) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    @Test("a watch or request on a connection that has already dropped fails at once instead of waiting forever")
    func droppedConnection() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await Self.closingServer(group: group)
        let connection = try await ClientConnection.connect(
            to: "127.0.0.1:\(server.localAddress!.port!)", group: group, frameBytesMax: 1 << 20)
        while connection.isActive { try await Task.sleep(for: .milliseconds(5)) }

        let watch = ClientRequest(
            requestID: 1, group: GroupID(1), operation: .watch(key: Array("k".utf8), rangeEnd: nil, startRevision: nil))
        let watchOutcome = try await Patience.within(seconds: 10) { () async -> String in
            do {
                for try await _ in connection.openWatch(watch) {}
                return "ended without an error"
            } catch {
                return "\(error)"
            }
        }
        #expect(watchOutcome == "\(QuorumClientError.connectionLost)", "the watch never ended")

        let status = ClientRequest(requestID: 2, group: GroupID(1), operation: .status)
        let requestOutcome = try await Patience.within(seconds: 10) { () async -> String in
            do {
                _ = try await connection.send(status, timeout: .seconds(60))
                return "answered"
            } catch {
                return "\(error)"
            }
        }
        #expect(requestOutcome == "\(QuorumClientError.connectionLost)", "the request waited for its timeout")

        try await server.close()
        try await group.shutdownGracefully()
    }
}
