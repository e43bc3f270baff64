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
        var held = try (0..<3).map { _ in try RawConnection(port: port) }
        for connection in held { #expect(try connection.exchange("PING\r\n") == "+PONG\r\n") }
        let refused = try RawConnection(port: port)
        #expect(try refused.readUntilClosed() == "-ERR max number of clients reached\r\n")
        refused.close()

        // Once one closes, its place is free again (the server learns of the close on its own loop).
        held.removeFirst().close()
        let admitted = try await Self.poll {
            guard let connection = try? RawConnection(port: port) else { return false }
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

/// A blocking TCP connection to 127.0.0.1 for byte-exact exchanges; reads give up after 10 seconds.
private final class RawConnection {
    private let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    /// Sends `text` and returns what one read brings back.
    func exchange(_ text: String) throws -> String {
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count
        else { throw POSIXError(.EPIPE) }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw POSIXError(.ECONNRESET) }
        return String(decoding: chunk[0..<count], as: UTF8.self)
    }

    /// Everything the server sends until it closes the connection.
    /// - Throws: if it did not close within the read timeout.
    func readUntilClosed() throws -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return String(decoding: received, as: UTF8.self) }
            guard count > 0 else { throw POSIXError(.ETIMEDOUT) }
            received += chunk[0..<count]
        }
    }

    func close() { Glibc.close(descriptor) }
}
