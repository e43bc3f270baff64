import Foundation

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
        var process: Process?
        var clientEndpoint: String { "127.0.0.1:\(clientPort)" }
        var httpEndpoint: String { "http://127.0.0.1:\(httpPort)" }
    }

    private(set) var members: [Member]
    let directory: URL
    private let executable: URL

    /// Extra arguments for every `quorum server` this cluster starts.
    var serverArguments: [String] = []

    init(size: Int) throws {
        executable = try Self.quorumExecutable()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("quorum-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        members = try (1...size).map { try Self.newMember(id: $0) }
    }

    private static func newMember(id: Int) throws -> Member {
        Member(id: id, peerPort: try freePort(), clientPort: try freePort(), httpPort: try freePort())
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

    func start(_ id: Int, joining: Bool = false) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = [
            "server", "--id", "\(id)", "--cluster", clusterArgument,
            "--data-dir", directory.appendingPathComponent("n\(id)").path, "--tick-milliseconds", "20",
            "--http-port", "\(members[id - 1].httpPort)",
        ] + (joining ? ["--join"] : []) + serverArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        members[id - 1].process = process
    }

    /// SIGKILL: no chance to flush anything, as in a power cut of the process.
    func kill(_ id: Int) {
        guard let process = members[id - 1].process else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        members[id - 1].process = nil
    }

    func stopAll() {
        for member in members { kill(member.id) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts member `id` configured only through a JSON file and the environment, as an operator might.
    func startFromConfigurationFile(_ id: Int) throws {
        let file = directory.appendingPathComponent("n\(id).json")
        let settings: [String: Any] = [
            "cluster": clusterArgument, "dataDir": directory.appendingPathComponent("n\(id)").path,
            "tickMilliseconds": 20,
        ]
        try JSONSerialization.data(withJSONObject: settings).write(to: file)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["server", "--config", file.path]
        process.environment = ProcessInfo.processInfo.environment.merging(["QUORUM_ID": "\(id)"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        members[id - 1].process = process
    }

    /// Runs the `quorum` command with `arguments`; returns its exit code and standard output.
    func runCommand(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The `quorum` binary sits next to the test binary in the build directory.
    static func quorumExecutable() throws -> URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
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

    /// A port the kernel just handed out on 127.0.0.1, released again for the server to take.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
