import Foundation
import QuorumClient
import QuorumConsensus
import QuorumServer
import QuorumStorage
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The system's file calls, with a disk that fills up and is freed on demand: a real disk cannot be made to.
final class FillingDisk: FileIO, Sendable {
    private let system = PosixFileIO()
    let isFull = Mutex(false)

    func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
        if isFull.withLock({ $0 }) { throw SystemCallError("write", errorNumber: ENOSPC) }
        try system.write(bytes, to: descriptor)
    }

    func synchronizeData(of descriptor: Int32) throws(SystemCallError) { try system.synchronizeData(of: descriptor) }
    func synchronize(_ descriptor: Int32) throws(SystemCallError) { try system.synchronize(descriptor) }
}

extension ClusterTests {
    @Test("a node whose disk filled up refuses writes as unavailable, and serves again once space is freed, without a restart")
    func fullDiskRecoversWithoutRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "quorum-full-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let clientPort = try ClusterProcesses.freePort()
        var configuration = ServerConfiguration(
            node: NodeID(1),
            members: [
                NodeID(1): MemberAddress(
                    host: "127.0.0.1", peerPort: try ClusterProcesses.freePort(), clientPort: clientPort)
            ],
            dataDirectory: directory.path)
        configuration.tickMilliseconds = 20
        let disk = FillingDisk()
        configuration.storageIO = disk
        let server = try await onThread { [configuration] in try QuorumNodeServer(configuration: configuration) }
        let client = QuorumClient(endpoints: ["127.0.0.1:\(clientPort)"], timeout: .seconds(2))
        let before = try await Self.pollValue { try? await client.put(Array("before".utf8), Array("kept".utf8)) }
        #expect(before != nil, "a single node never took the first write")

        disk.isFull.withLock { $0 = true }
        var refusal: QuorumClientError?
        do {
            _ = try await client.put(Array("during".utf8), Array("lost".utf8))
        } catch {
            refusal = error
        }
        #expect(refusal != nil, "a write was acknowledged while the disk was full")

        disk.isFull.withLock { $0 = false }
        let after = try await Self.pollValue { try? await client.put(Array("after".utf8), Array("written".utf8)) }
        #expect(after != nil, "the node did not serve again once space was freed")
        #expect(try await client.get(Array("before".utf8))?.value == Array("kept".utf8))
        #expect(try await client.get(Array("after".utf8))?.value == Array("written".utf8))
        await client.close()
        try await onThread { try server.shutdown() }
    }
}
