import Foundation
import QuorumChaos
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real `quorum server` processes on 127.0.0.1, each with its own data directory, for integration tests.
/// Every process started here is ended by `stopAll()` (and the directory removed).
final class ClusterProcesses: @unchecked Sendable {
    // @unchecked Sendable: mutated only by the test that owns it, between awaits on one task.
    struct Member {
        var id: Int
        var peerPort: Int
        var clientPort: Int
        /// Every member serves the HTTP/JSON API too (`--http-port`).
        var httpPort: Int
        /// And the Redis protocol (`--redis-port`), when given one.
        var redisPort: Int? = nil
        var process: Process?
        var clientEndpoint: String { "127.0.0.1:\(clientPort)" }
        var httpEndpoint: String { "http://127.0.0.1:\(httpPort)" }
    }

    private(set) var members: [Member]
    let directory: URL
    private let executable: URL

    /// Extra arguments for every `quorum server` this cluster starts.
    var serverArguments: [String] = []
    /// Arguments for one member only (its own certificate, say), after `serverArguments`.
    var memberArguments: [Int: [String]] = [:]
    /// The servers' tick: elections take 10–20 ticks.
    var tickMilliseconds = 20

    init(size: Int) throws {
        executable = try Self.quorumExecutable()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("quorum-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        members = try (1...size).map { try Self.newMember(id: $0) }
    }

    private static func newMember(id: Int) throws -> Member {
        Member(
            id: id, peerPort: try freePort(), clientPort: try freePort(), httpPort: try freePort(),
            redisPort: try freePort())
    }

    var clusterArgument: String {
        members.map { "\($0.id)=127.0.0.1:\($0.peerPort):\($0.clientPort)" }.joined(separator: ",")
    }

    var clientEndpoints: [String] { members.map(\.clientEndpoint) }

    func startAll() throws {
        for member in members { try start(member.id) }
    }

    /// Adds a member that is not part of the founding list; start it with `start(_:joining: true)`.
    func addMember() throws -> Member {
        let member = try Self.newMember(id: members.count + 1)
        members.append(member)
        return member
    }

    /// Starts member `id` on its data directory; `clusterArgument` and `asNode` override its --cluster and --id.
    func start(_ id: Int, joining: Bool = false, clusterArgument: String? = nil, asNode: Int? = nil) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments =
            [
                "server", "--id", "\(asNode ?? id)", "--cluster", clusterArgument ?? self.clusterArgument,
                "--data-dir", directory.appendingPathComponent("n\(id)").path, "--tick-milliseconds",
                "\(tickMilliseconds)",
                "--http-port", "\(members[id - 1].httpPort)",
            ] + (members[id - 1].redisPort.map { ["--redis-port", "\($0)"] } ?? []) + (joining ? ["--join"] : [])
            + serverArguments + (memberArguments[id] ?? [])
        try launch(process, member: id)
    }

    /// Runs a member's process with its output going to `n<id>.log`, which `stopAll()` shows if the process ended
    /// by itself: a server that crashes fails the test that saw it, with its last words.
    private func launch(_ process: Process, member id: Int) throws {
        let log = logFile(of: id)
        guard FileManager.default.createFile(atPath: log.path, contents: nil),
            let output = FileHandle(forWritingAtPath: log.path)
        else { throw POSIXError(.EACCES) }
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        members[id - 1].process = process
    }

    private func logFile(of id: Int) -> URL { directory.appendingPathComponent("n\(id).log") }

    /// SIGKILL: no chance to flush anything, as in a power cut of the process.
    func kill(_ id: Int) {
        guard let process = members[id - 1].process else { return }
        // A process that already ended has been reaped, and its pid may belong to someone else by now.
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        members[id - 1].process = nil
    }

    /// Sends `signalNumber` to member `id`'s process, if it runs.
    func signal(_ id: Int, _ signalNumber: Int32) {
        guard let process = members[id - 1].process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signalNumber)
    }

    /// What member `id` has written to its standard output and error so far.
    func output(of id: Int) -> String { (try? String(contentsOf: logFile(of: id), encoding: .utf8)) ?? "" }

    /// Waits up to `seconds` for member `id` to end by itself, as it should; returns its exit status and log, or
    /// nil if it is still running.
    func awaitExit(_ id: Int, seconds: Int = 20) async throws -> (status: Int32, log: String)? {
        guard let process = members[id - 1].process else { return nil }
        for _ in 0..<(seconds * 20) where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        guard !process.isRunning else { return nil }
        members[id - 1].process = nil
        return (process.terminationStatus, (try? String(contentsOf: logFile(of: id), encoding: .utf8)) ?? "")
    }

    func stopAll() {
        for member in members {
            if let process = member.process, !process.isRunning {
                let log = (try? String(contentsOf: logFile(of: member.id), encoding: .utf8)) ?? ""
                Issue.record(
                    """
                    member \(member.id) ended by itself (status \(process.terminationStatus)); the end of its log:
                    \(log.suffix(3000))
                    """)
            }
            kill(member.id)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts member `id` configured only through a JSON file and the environment, as an operator might.
    func startFromConfigurationFile(_ id: Int) throws {
        let file = directory.appendingPathComponent("n\(id).json")
        let settings: [String: Any] = [
            "cluster": clusterArgument, "dataDir": directory.appendingPathComponent("n\(id)").path,
            "tickMilliseconds": 20, "listenHost": "127.0.0.1",
        ]
        try JSONSerialization.data(withJSONObject: settings).write(to: file)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["server", "--config", file.path]
        process.environment = ProcessInfo.processInfo.environment.merging(["QUORUM_ID": "\(id)"]) { $1 }
        try launch(process, member: id)
    }

    /// Runs the `quorum` command with `arguments`, waiting on a thread of its own; returns its exit code and
    /// standard output (with standard error after it, when `includingErrors`).
    func runCommand(
        _ arguments: [String], includingErrors: Bool = false
    ) async throws -> (status: Int32, output: String) {
        try await offConcurrencyPool { try self.runCommandBlocking(arguments, includingErrors: includingErrors) }
    }

    private func runCommandBlocking(_ arguments: [String], includingErrors: Bool) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = includingErrors ? output : FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The `quorum` binary sits next to the test binary in the build directory.
    static func quorumExecutable() throws -> URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        while directory.pathComponents.count > 1 && directory.path.contains(".xctest") {
            directory = directory.deletingLastPathComponent()
        }
        let binary = directory.appendingPathComponent("quorum")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw MissingExecutable(path: binary.path)
        }
        return binary
    }

    struct MissingExecutable: Error, CustomStringConvertible {
        var path: String
        var description: String { "\(path) not found; run `swift build --build-tests` (or `swift test`) first" }
    }

    /// A free port on 127.0.0.1 (`LocalPorts`, shared with the chaos runner so their ports never collide).
    static func freePort() throws -> Int { try LocalPorts.free() }

    static var ephemeralPortsStart: Int { LocalPorts.ephemeralPortsStart }

    static func canBind(_ port: Int) -> Bool { LocalPorts.canBind(port) }
}
