import Foundation
import QuorumChaos
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The README's "Try it" commands, run as written against `quorum dev`, so that they cannot drift from what the
/// command line does. Only the ports move (to a free block) and `swift run quorum` becomes the built binary.
extension ClusterTests {
    @Test("the README's quick start runs as written against quorum dev, and each command says what the README says")
    func readmeQuickStart() async throws {
        let blocks = try Self.quickStartBlocks()
        #expect(blocks.start == ["swift run quorum dev"])
        let base = try Self.freePortBlock()
        let binary = try ClusterProcesses.quorumExecutable().path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("quorum-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let dev = Process()
        dev.executableURL = URL(fileURLWithPath: binary)
        dev.arguments = ["dev", "--base-port", "\(base)", "--data-dir", work.appendingPathComponent("data").path]
        dev.standardOutput = FileHandle.nullDevice
        dev.standardError = FileHandle.nullDevice
        try dev.run()
        var background: [Process] = []
        defer {
            for process in background + [dev] where process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }

        var environment = ProcessInfo.processInfo.environment
        var outputs: [(command: String, status: Int32, output: String)] = []
        for line in blocks.commands {
            var command = Self.moved(line, toBase: base).replacingOccurrences(of: "swift run quorum", with: binary)
            if command.hasPrefix("export ") {
                let assignment = command.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
                environment[String(assignment[0])] = String(assignment[1])
                continue
            }
            if let tool = ["curl", "redis-cli"].first(where: { command.hasPrefix($0 + " ") }), Self.which(tool) == nil {
                Issue.record("\(tool) not found: install the Debian package \(tool == "curl" ? "curl" : "redis-tools")")
                continue
            }
            if command.hasSuffix("&") {
                command.removeLast()
                background.append(
                    try Self.shell(
                        command, in: work, environment: environment, output: work.appendingPathComponent("watch.out")))
                continue
            }
            // The first command waits until the cluster has a leader: the README's reader starts typing later.
            let attempts = outputs.isEmpty ? 100 : 1
            var result = try await Self.run(command, in: work, environment: environment)
            for _ in 1..<attempts where result.status != 0 {
                try await Task.sleep(for: .milliseconds(100))
                result = try await Self.run(command, in: work, environment: environment)
            }
            #expect(result.status == 0, "README command failed: \(line)\n\(result.output)")
            outputs.append((line, result.status, result.output))
        }

        func said(_ prefix: String) -> String { outputs.first { $0.command.hasPrefix(prefix) }?.output ?? "" }
        #expect(said("swift run quorum put greeting hello").contains("OK (revision"))
        #expect(said("swift run quorum get greeting").trimmingCharacters(in: .whitespacesAndNewlines) == "hello")
        #expect(said("swift run quorum cluster status").contains("leader"))
        #expect(said("swift run quorum group list").contains("GROUP"))
        #expect(said("swift run quorum bench").contains("put"))
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("backup.qbk").path))
        if Self.which("curl") != nil {
            #expect(said("curl -s 127.0.0.1:7301/v1/kv/greeting").contains(#""value":"hi""#))
            #expect(said("curl -s 127.0.0.1:7301/metrics").contains("quorum_server_is_leader"))
        }
        if Self.which("redis-cli") != nil {
            #expect(said("redis-cli").trimmingCharacters(in: .whitespacesAndNewlines) == "hi")
        }
        #expect(said("swift run quorum lock reports").contains("token"))
        // The watch started in the background saw the transaction's write.
        let watched = try await Self.poll {
            (try? String(contentsOf: work.appendingPathComponent("watch.out"), encoding: .utf8))?.contains("hi") == true
        }
        #expect(watched, "the README's watch printed no change")
    }

    /// The README's "Try it" section: the block that starts the cluster, and the commands of the block after it
    /// (comments dropped).
    static func quickStartBlocks() throws -> (start: [String], commands: [String]) {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Try it").dropFirst().first)
        let blocks = section.components(separatedBy: "```sh\n").dropFirst().prefix(2).map { block in
            block.components(separatedBy: "```")[0].split(separator: "\n").map { line in
                String(line.components(separatedBy: " #")[0]).trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        try #require(blocks.count == 2)
        return (blocks[0], blocks[1])
    }

    /// The README's ports (peers 7101–7103, clients 7201–7203, Redis 7211–7213, HTTP 7301–7303), moved to `base`.
    static func moved(_ line: String, toBase base: Int) -> String {
        var line = line
        for offset in [0, 1, 2, 100, 101, 102, 110, 111, 112, 200, 201, 202] {
            line = line.replacingOccurrences(of: "\(7101 + offset)", with: "\(base + offset)")
        }
        return line
    }

    /// A base port whose block of `quorum dev` ports is free.
    static func freePortBlock() throws -> Int {
        for _ in 0..<200 {
            let base = Int.random(in: 20_000...60_000)
            if [0, 1, 2, 100, 101, 102, 110, 111, 112, 200, 201, 202].allSatisfy({
                ClusterProcesses.canBind(base + $0)
            }) {
                return base
            }
        }
        throw POSIXError(.EADDRINUSE)
    }

    static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    static func shell(_ command: String, in directory: URL, environment: [String: String], output: URL) throws
        -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec " + command]
        process.currentDirectoryURL = directory
        process.environment = environment
        guard FileManager.default.createFile(atPath: output.path, contents: nil) else { throw POSIXError(.EACCES) }
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func run(_ command: String, in directory: URL, environment: [String: String]) async throws
        -> (status: Int32, output: String)
    {
        try await offConcurrencyPool {
            let output = directory.appendingPathComponent("command.out")
            let process = try shell(command, in: directory, environment: environment, output: output)
            process.waitUntilExit()
            return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
        }
    }
}
