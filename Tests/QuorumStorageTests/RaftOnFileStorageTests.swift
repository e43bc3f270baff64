import QuorumCodec
import QuorumConsensus
import QuorumNode
import Synchronization
import Testing

@testable import QuorumStorage

/// The real engine and the real node driver on `SingleGroupStorage`: the driver builds the batches, the storage
/// reports them durable from its fsync thread, and a restart from what was recovered continues exactly.
@Suite("Raft on file storage")
struct RaftOnFileStorageTests {
    final class NoPeers: MessageTransport {
        func send(_ messages: [Message]) {}
    }

    /// Folds every command into a running digest, so that two machines agree only if they applied the same
    /// commands in the same order.
    struct DigestMachine: ReplicatedStateMachine {
        var count: UInt64 = 0
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325

        mutating func apply(_ entry: Entry) -> UInt64? {
            guard case .command(let bytes) = entry.kind else { return nil }
            count += 1
            for byte in bytes { digest = (digest ^ UInt64(byte)) &* 0x100_0000_01B3 }
            return count
        }

        func snapshotImage() -> (count: UInt64, digest: UInt64) { (count, digest) }

        static func serialize(_ image: (count: UInt64, digest: UInt64)) -> [UInt8] {
            var writer = ByteWriter()
            writer.write(image.count)
            writer.write(image.digest)
            return writer.bytes
        }

        mutating func restore(from snapshot: [UInt8]) {
            var reader = ByteReader(snapshot)
            count = (try? reader.read(UInt64.self, "count")) ?? 0
            digest = (try? reader.read(UInt64.self, "digest")) ?? 0
        }
    }

    typealias Driver = NodeDriver<RaftNode, SingleGroupStorage, NoPeers, DigestMachine>

    /// Hands durable reports from the fsync thread to the test's thread, which owns the driver.
    final class Durable: Sendable {
        private let numbers = Mutex<[UInt64]>([])
        var report: @Sendable (UInt64) -> Void { { [self] number in numbers.withLock { $0.append(number) } } }
        func take() -> [UInt64] {
            numbers.withLock { taken in
                defer { taken.removeAll() }; return taken
            }
        }
    }

    static func options() -> RaftOptions {
        var options = RaftOptions()
        options.initialConfiguration = Configuration(voters: [1])
        options.snapshotIntervalEntries = 25
        options.entriesRetainedAfterSnapshot = 5
        return options
    }

    /// Runs the driver until nothing is being persisted, delivering durable reports as they come.
    static func settle(_ driver: inout Driver, _ durable: Durable) {
        let deadline = ContinuousClock.now + .seconds(10)
        while driver.isPersisting {
            precondition(ContinuousClock.now < deadline, "storage never reported the batch durable")
            for number in durable.take() { driver.persisted(readyNumber: number) }
        }
    }

    static func start(_ path: String, _ durable: Durable) throws -> Driver {
        let storage = try SingleGroupStorage(
            path: path, options: .init(writeAheadLog: .init(segmentBytes: 2048)), onDurable: durable.report)
        let engine = try RaftNode(id: 1, options: options(), recovered: storage.recovered)
        var driver = Driver(
            engine: engine, stateMachine: DigestMachine(), storage: storage, transport: NoPeers(),
            recoveredSnapshot: storage.recovered.snapshot)
        settle(&driver, durable)
        driver.campaign()
        settle(&driver, durable)
        return driver
    }

    @Test("a single-node group commits, snapshots, compacts, restarts and ends in the same state")
    func restartContinuesExactly() throws {
        try withTemporaryDirectory { path in
            let durable = Durable()
            var driver = try Self.start(path, durable)
            #expect(driver.engine.role == .leader)
            var expected = DigestMachine()
            for number in UInt64(1)...120 {
                let command = payload(for: number)
                try driver.propose(command, token: number)
                Self.settle(&driver, durable)
                _ = expected.apply(Entry(term: 1, index: 1, kind: .command(command)))
            }
            #expect(driver.stateMachine.count == 120)
            #expect(driver.stateMachine.digest == expected.digest)
            let term = driver.engine.term
            driver.storage.close()
            #expect(try Posix.listDirectory(path + "/groups/1/snapshots").count == 2)

            let restarted = try Self.start(path, Durable())
            defer { restarted.storage.close() }
            #expect(restarted.storage.recovered.snapshot != nil)
            #expect(restarted.storage.recovered.hardState.term == term)
            #expect(restarted.engine.role == .leader)
            // The new leader's first entry commits everything before it, which is applied after the snapshot.
            #expect(restarted.stateMachine.count == 120)
            #expect(restarted.stateMachine.digest == expected.digest)
        }
    }
}
