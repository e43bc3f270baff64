import Foundation
import QuorumClient

#if canImport(Glibc)
    import Glibc
#endif

/// Real `redis-server` processes on 127.0.0.1, without persistence, for the Redlock tests. Every process started here
/// is ended by `stopAll()` (or `kill`).
final class RedisServers: @unchecked Sendable {
    // @unchecked Sendable: mutated only by the test that owns it, between awaits on one task.
    let ports: [Int]
    private var processes: [Process?]

    /// The `redis-server` on PATH, if any (Debian package `redis-server`).
    static let executable: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").lazy
            .map { URL(fileURLWithPath: String($0)).appendingPathComponent("redis-server") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    static var isInstalled: Bool { executable != nil }

    init(count: Int) throws {
        ports = try (0..<count).map { _ in try ClusterProcesses.freePort() }
        processes = Array(repeating: nil, count: count)
    }

    var endpoints: [String] { ports.map { "127.0.0.1:\($0)" } }

    /// Starts every server and returns once each answers PING.
    func startAll() async throws {
        for index in ports.indices { try await start(index) }
    }

    func start(_ index: Int) async throws {
        guard let executable = Self.executable else { throw NotInstalled() }
        let process = Process()
        process.executableURL = executable
        process.arguments = [
            "--port", "\(ports[index])", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", FileManager.default.temporaryDirectory.path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        processes[index] = process
        try await waitUntilAnswering(index)
    }

    /// Polls PING until PONG: the server listens some milliseconds after the process starts.
    private func waitUntilAnswering(_ index: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard processes[index]?.isRunning == true else { throw NotStarted(port: ports[index], reason: "it exited") }
            if let connection = try? await RedisConnection.connect(to: endpoints[index], connectTimeout: .seconds(1)) {
                let reply = try? await connection.send(["PING"])
                await connection.close()
                if reply == .simpleString("PONG") { return }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw NotStarted(port: ports[index], reason: "no PONG within 60 s")
    }

    /// SIGKILL, as a crash would.
    func kill(_ index: Int) {
        guard let process = processes[index] else { return }
        // A process that already ended has been reaped, and its pid may belong to someone else by now.
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        processes[index] = nil
    }

    func stopAll() {
        for index in ports.indices { kill(index) }
    }

    struct NotInstalled: Error, CustomStringConvertible {
        var description: String { "redis-server is not on PATH; install the Debian package redis-server" }
    }

    struct NotStarted: Error, CustomStringConvertible {
        var port: Int
        var reason: String
        var description: String { "redis-server on port \(port) did not start: \(reason)" }
    }
}
