import Foundation
import QuorumClient
import Testing

/// Paths given relative to the working directory, as people type them. `quorum server --data-dir d` used to crash at
/// start: Foundation's `NSString.deletingLastPathComponent` traps on a one-character name (swift-corelibs-foundation
/// with Swift 6.3). So did `quorum snapshot save b`.
extension ClusterTests {
    @Test("a data directory and a backup file with one-character names relative to the working directory")
    func relativePaths() async throws {
        let cluster = try ClusterProcesses(size: 1)
        defer { cluster.stopAll() }
        let member = cluster.members[0]
        let server = Process()
        server.executableURL = try ClusterProcesses.quorumExecutable()
        server.currentDirectoryURL = cluster.directory
        server.arguments = [
            "server", "--id", "1", "--cluster", "1=127.0.0.1:\(member.peerPort):\(member.clientPort)", "--data-dir",
            "d",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let client = QuorumClient(endpoints: [member.clientEndpoint], timeout: .seconds(20))
        try await client.put(Array("k".utf8), Array("v".utf8))
        await client.close()
        #expect(FileManager.default.fileExists(atPath: cluster.directory.appendingPathComponent("d").path))

        let backup = Process()
        backup.executableURL = try ClusterProcesses.quorumExecutable()
        backup.currentDirectoryURL = cluster.directory
        backup.arguments = ["snapshot", "save", "b", "--endpoints", member.clientEndpoint]
        backup.standardOutput = FileHandle.nullDevice
        backup.standardError = FileHandle.nullDevice
        try backup.run()
        backup.waitUntilExit()
        #expect(backup.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: cluster.directory.appendingPathComponent("b").path))
    }
}
