import Foundation
import QuorumConsensus
import Synchronization
import Testing

@testable import QuorumNode
@testable import QuorumStorage

/// Collects what the storage reports from its fsync thread and lets a test wait for it.
final class Reports: Sendable {
    private let durable = Mutex<[UInt64]>([])
    private let failures = Mutex<[StorageError]>([])

    var onDurable: @Sendable (UInt64) -> Void { { [self] number in durable.withLock { $0.append(number) } } }
    var onFailure: @Sendable (StorageError) -> Void { { [self] error in failures.withLock { $0.append(error) } } }
    var durableNumbers: [UInt64] { durable.withLock { $0 } }
    var failureList: [StorageError] { failures.withLock { $0 } }

    /// Waits (up to 10 s) until `condition` holds.
    func wait(until condition: (Reports) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while !condition(self) {
            if Date() > deadline { return false }
            usleep(1000)
        }
        return true
    }
}

func batch(_ number: UInt64, entries: [Entry] = [], hardState: HardState? = nil, snapshot: Snapshot? = nil)
    -> PersistBatch
{
    PersistBatch(
        readyNumber: number, snapshot: snapshot, entries: entries, hardState: hardState,
        mustSync: snapshot != nil || !entries.isEmpty || hardState != nil)
}

func snapshot(at index: UInt64, term: Term = 1) -> Snapshot {
    Snapshot(
        lastIncludedIndex: LogIndex(index), lastIncludedTerm: term, configuration: Configuration(voters: [1, 2, 3]),
        data: Array("state through \(index)".utf8))
}

@Suite("One group's storage")
struct SingleGroupStorageTests {
    @Test("persisted batches are reported durable in order and recovered after a restart")
    func persistAndRecover() throws {
        try withTemporaryDirectory { path in
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, onDurable: reports.onDurable, onFailure: reports.onFailure)
            #expect(storage.recovered.entries.isEmpty)
            for number in UInt64(1)...50 {
                storage.persist(
                    batch(
                        number, entries: [command(number)],
                        hardState: HardState(term: 1, votedFor: 1, commitIndex: LogIndex(number - 1))))
            }
            #expect(reports.wait { $0.durableNumbers.last == 50 })
            #expect(reports.durableNumbers == reports.durableNumbers.sorted())
            #expect(storage.health == .healthy)
            storage.close()
            #expect(storage.health == .closed)

            let reopened = try SingleGroupStorage(path: path, onDurable: { _ in })
            defer { reopened.close() }
            #expect(reopened.recovered.entries == commands(1...50))
            #expect(reopened.recovered.hardState == HardState(term: 1, votedFor: 1, commitIndex: 49))
            #expect(reopened.recovered.snapshot == nil)
        }
    }

    @Test("a second storage on the same directory is refused while the first is open")
    func exclusive() throws {
        try withTemporaryDirectory { path in
            let storage = try SingleGroupStorage(path: path, onDurable: { _ in })
            defer { storage.close() }
            #expect(
                expectStorageError { try SingleGroupStorage(path: path, onDurable: { _ in }) }?.code == .directoryLocked
            )
        }
    }

    @Test("snapshots the node takes compact the log back to the older retained snapshot")
    func snapshotsCompactTheLog() throws {
        try withTemporaryDirectory { path in
            let options = SingleGroupStorage.Options(writeAheadLog: .init(segmentBytes: 2048))
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, options: options, onDurable: reports.onDurable)
            for number in UInt64(1)...30 {
                let first = (number - 1) * 10 + 1
                storage.persist(batch(number, entries: commands(first...first + 9)))
            }
            #expect(reports.wait { $0.durableNumbers.last == 30 })
            let segmentsBefore = try Posix.listDirectory(path + "/wal").count
            storage.saveSnapshot(snapshot(at: 100))
            storage.saveSnapshot(snapshot(at: 200))
            storage.persist(batch(31, hardState: HardState(term: 1, votedFor: 1, commitIndex: 300)))
            #expect(reports.wait { $0.durableNumbers.last == 31 })
            storage.close()
            #expect(try Posix.listDirectory(path + "/wal").count < segmentsBefore)
            #expect(try Posix.listDirectory(path + "/groups/1/snapshots").count == 2)

            let reopened = try SingleGroupStorage(path: path, options: options, onDurable: { _ in })
            defer { reopened.close() }
            #expect(reopened.recovered.snapshot == snapshot(at: 200))
            #expect(reopened.recovered.entries == commands(201...300))
            #expect(reopened.recovered.hardState.commitIndex == 300)
        }
    }

    /// A bit flipped, or a file that cannot be read at all: a directory in its place fails `read` (EISDIR) as a
    /// latent sector error fails it (EIO).
    @Test(
        "a damaged or unreadable newest snapshot is skipped and reported when the log still covers it",
        arguments: [false, true])
    func damagedSnapshotSkippedWhenCovered(unreadable: Bool) throws {
        try withTemporaryDirectory { path in
            let options = SingleGroupStorage.Options(writeAheadLog: .init(segmentBytes: 2048))
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, options: options, onDurable: reports.onDurable)
            for number in UInt64(1)...30 {
                let first = (number - 1) * 10 + 1
                storage.persist(batch(number, entries: commands(first...first + 9)))
            }
            storage.saveSnapshot(snapshot(at: 100))
            storage.saveSnapshot(snapshot(at: 200))
            storage.persist(batch(31, hardState: HardState(term: 1, votedFor: 1, commitIndex: 300)))
            #expect(reports.wait { $0.durableNumbers.last == 31 })
            storage.close()

            let newest = path + "/groups/1/snapshots/" + SnapshotStore.fileName(for: SnapshotPoint(index: 200, term: 1))
            if unreadable {
                try FileManager.default.removeItem(atPath: newest)
                try FileManager.default.createDirectory(atPath: newest, withIntermediateDirectories: false)
            } else {
                try flipBit(in: newest, atByte: 40)
            }
            let reopened = try SingleGroupStorage(path: path, options: options, onDurable: { _ in })
            defer { reopened.close() }
            #expect(reopened.recovered.snapshot == snapshot(at: 100))
            #expect(reopened.recovered.entries == commands(101...300))
            #expect(reopened.recoveryReport.damagedSnapshots.map(\.path) == [newest])
            #expect(reopened.recoveryReport.description.contains("damaged snapshot \(newest)"))
            // Set aside for inspection, never loaded again.
            #expect(Posix.exists(newest + ".damaged"))
            #expect(!Posix.exists(newest))
        }
    }

    @Test("a damaged snapshot the log no longer covers is refused, not skipped")
    func damagedSnapshotRefusedWhenNotCovered() throws {
        try withTemporaryDirectory { path in
            let options = SingleGroupStorage.Options(writeAheadLog: .init(segmentBytes: 2048), snapshotsRetained: 1)
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, options: options, onDurable: reports.onDurable)
            for number in UInt64(1)...30 {
                let first = (number - 1) * 10 + 1
                storage.persist(batch(number, entries: commands(first...first + 9)))
            }
            storage.saveSnapshot(snapshot(at: 250))
            storage.persist(batch(31, hardState: HardState(term: 1, votedFor: 1, commitIndex: 300)))
            #expect(reports.wait { $0.durableNumbers.last == 31 })
            storage.close()

            let only = path + "/groups/1/snapshots/" + SnapshotStore.fileName(for: SnapshotPoint(index: 250, term: 1))
            let bytes = try readBytes(only)
            try writeBytes(Array(bytes.dropLast(5)), to: only)
            let error = expectStorageError { try SingleGroupStorage(path: path, options: options, onDurable: { _ in }) }
            #expect(error?.code == .missingData)
            #expect(error?.message.contains(only) == true)
            #expect(Posix.exists(only))
        }
    }

    @Test("a snapshot from the leader replaces the whole log")
    func leaderSnapshotResetsTheLog() throws {
        try withTemporaryDirectory { path in
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, onDurable: reports.onDurable)
            storage.persist(batch(1, entries: commands(1...10)))
            storage.persist(batch(2, entries: commands(51...52, term: 3), snapshot: snapshot(at: 50, term: 3)))
            #expect(reports.wait { $0.durableNumbers.last == 2 })
            storage.close()

            let reopened = try SingleGroupStorage(path: path, onDurable: { _ in })
            defer { reopened.close() }
            #expect(reopened.recovered.snapshot == snapshot(at: 50, term: 3))
            #expect(reopened.recovered.entries == commands(51...52, term: 3))
        }
    }

    @Test("a snapshot that keeps later entries drops only what it covers, even when the write after its reset is torn")
    func snapshotKeepingLaterEntriesSurvivesATornRewrite() throws {
        try withTemporaryDirectory { path in
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, onDurable: reports.onDurable)
            storage.persist(batch(1, entries: commands(1...20)))
            #expect(reports.wait { $0.durableNumbers == [1] })
            let segment = path + "/wal/" + SegmentFile(sequence: 0).fileName
            let beforeInstall = try readBytes(segment).count
            // A Multi-Paxos acceptor installing a leader's snapshot writes its accepted slots after it again.
            var install = batch(2, entries: commands(11...20), snapshot: snapshot(at: 10))
            install.keepsEntriesAfterSnapshot = true
            storage.persist(install)
            #expect(reports.wait { $0.durableNumbers == [1, 2] })
            storage.close()
            // The crash tore the write right after its reset record: none of the slots written again landed.
            let resetRecordBytes = RecordFrame.headerBytes + 9 + 17
            try writeBytes(Array(try readBytes(segment).prefix(beforeInstall + resetRecordBytes + 5)), to: segment)

            let reopened = try SingleGroupStorage(path: path, onDurable: { _ in })
            defer { reopened.close() }
            #expect(reopened.recoveryReport.tornTail != nil)
            #expect(reopened.recovered.snapshot == snapshot(at: 10))
            #expect(reopened.recovered.entries == commands(11...20))
        }
    }

    @Test("a full disk fails storage: nothing after it is reported durable, later batches are refused at once")
    func noSpaceFailsStorage() throws {
        try withTemporaryDirectory { path in
            let io = FaultyFileIO()
            let reports = Reports()
            let options = SingleGroupStorage.Options(writeAheadLog: .init(io: io))
            let storage = try SingleGroupStorage(
                path: path, options: options, onDurable: reports.onDurable, onFailure: reports.onFailure)
            defer { storage.close() }
            storage.persist(batch(1, entries: commands(1...5)))
            #expect(reports.wait { $0.durableNumbers == [1] })
            io.allow(bytes: 100)
            storage.persist(batch(2, entries: commands(6...10)))
            #expect(reports.wait { !$0.failureList.isEmpty })
            guard case .failed(let cause) = storage.health else {
                Issue.record("expected failed health, got \(storage.health)")
                return
            }
            #expect(cause.code == .noSpace)
            #expect(reports.failureList.first?.code == .noSpace)

            storage.persist(batch(3, entries: commands(6...6)))
            #expect(reports.failureList.count == 2)
            #expect(reports.failureList.last?.code == .storageFailed)
            #expect(reports.failureList.last?.message.contains("refused Ready 3") == true)
            #expect(expectStorageError { try storage.submit(batch(3)) }?.code == .storageFailed)
            usleep(50_000)
            #expect(reports.durableNumbers == [1])
        }
    }
}

extension SingleGroupStorageTests {
    @Test("group commit: batches queued during an fsync are written together and synced once")
    func groupCommit() throws {
        try withTemporaryDirectory { path in
            let io = GatedFileIO()
            let reports = Reports()
            let storage = try SingleGroupStorage(
                path: path, options: .init(writeAheadLog: .init(io: io)), onDurable: reports.onDurable)
            defer { storage.close() }
            let syncsAtStart = io.dataSyncs
            io.arm()
            storage.persist(batch(1, entries: [command(1)]))
            io.waitUntilHeld()
            for number in UInt64(2)...40 { storage.persist(batch(number, entries: [command(number)])) }
            io.release()
            #expect(reports.wait { $0.durableNumbers.last == 40 })
            // One sync for batch 1, one for the 39 batches queued behind it.
            #expect(io.dataSyncs - syncsAtStart == 2)
            #expect(reports.durableNumbers == [1, 40])
        }
    }

    @Test("batches that need no sync (a commit index alone) are reported without an fdatasync")
    func noSyncWhenNotNeeded() throws {
        try withTemporaryDirectory { path in
            let io = GatedFileIO()
            let reports = Reports()
            let storage = try SingleGroupStorage(
                path: path, options: .init(writeAheadLog: .init(io: io)), onDurable: reports.onDurable)
            defer { storage.close() }
            let syncsAtStart = io.dataSyncs
            storage.persist(
                PersistBatch(
                    readyNumber: 1, snapshot: nil, entries: [], hardState: HardState(commitIndex: 0), mustSync: false))
            #expect(reports.wait { $0.durableNumbers == [1] })
            #expect(io.dataSyncs == syncsAtStart)
        }
    }

    @Test("entries after a snapshot whose reset record was lost, written under another term, are dropped as stale")
    func staleSuffixAfterSnapshotDropped() throws {
        try withTemporaryDirectory { path in
            let directory = try DataDirectory(path: path)
            try writeLog(directory.writeAheadLogPath, commands(1...20))
            // The leader's snapshot reached disk, but the crash took the reset record that followed it.
            try makeDirectory(directory.snapshotsPath(of: SingleGroupStorage.group))
            try SnapshotStore(directory: directory.snapshotsPath(of: SingleGroupStorage.group)).save(
                snapshot(at: 15, term: 2))
            directory.close()
            let storage = try SingleGroupStorage(path: path, onDurable: { _ in })
            defer { storage.close() }
            #expect(storage.recovered.snapshot == snapshot(at: 15, term: 2))
            #expect(storage.recovered.entries.isEmpty)
        }
    }

    @Test("entries after a snapshot that agree with it are kept")
    func matchingSuffixAfterSnapshotKept() throws {
        try withTemporaryDirectory { path in
            let directory = try DataDirectory(path: path)
            try writeLog(directory.writeAheadLogPath, commands(1...20))
            try makeDirectory(directory.snapshotsPath(of: SingleGroupStorage.group))
            try SnapshotStore(directory: directory.snapshotsPath(of: SingleGroupStorage.group)).save(
                snapshot(at: 15, term: 1))
            directory.close()
            let storage = try SingleGroupStorage(path: path, onDurable: { _ in })
            defer { storage.close() }
            #expect(storage.recovered.entries == commands(16...20))
        }
    }
}

extension SingleGroupStorageTests {
    @Test("after close, batches are refused with a clear error")
    func refusedAfterClose() throws {
        try withTemporaryDirectory { path in
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, onDurable: reports.onDurable, onFailure: reports.onFailure)
            storage.close()
            storage.persist(batch(1, entries: [command(1)]))
            #expect(reports.failureList.map(\.code) == [.closed])
            #expect(reports.durableNumbers.isEmpty)
        }
    }

    @Test("a torn write found on restart is cut and shows in the recovery report")
    func tornTailReported() throws {
        try withTemporaryDirectory { path in
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, onDurable: reports.onDurable)
            storage.persist(batch(1, entries: commands(1...5)))
            #expect(reports.wait { $0.durableNumbers == [1] })
            storage.close()
            let segment = path + "/wal/" + SegmentFile(sequence: 0).fileName
            try writeBytes(try readBytes(segment).dropLast(7), to: segment)

            let reopened = try SingleGroupStorage(path: path, onDurable: { _ in })
            defer { reopened.close() }
            #expect(reopened.recovered.entries == commands(1...4))
            #expect(reopened.recoveryReport.tornTail?.path == segment)
            #expect(reopened.recoveryReport.description.contains("torn write"))
        }
    }
}

extension SingleGroupStorageTests {
    @Test("the newest snapshot can be streamed from another thread while the node keeps writing")
    func streamNewestSnapshot() throws {
        try withTemporaryDirectory { path in
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, onDurable: reports.onDurable)
            defer { storage.close() }
            #expect(try storage.openNewestSnapshotForStreaming() == nil)
            storage.persist(batch(1, entries: commands(1...20)))
            storage.saveSnapshot(snapshot(at: 10))
            storage.persist(batch(2, hardState: HardState(term: 1, votedFor: 1, commitIndex: 20)))
            #expect(reports.wait { $0.durableNumbers.last == 2 })
            let reader = try #require(try storage.openNewestSnapshotForStreaming())
            defer { reader.close() }
            var bytes: [UInt8] = []
            while let chunk = try reader.nextChunk(maxBytes: 16) { bytes += chunk }
            #expect(try SnapshotStore.decodeFile(bytes) == snapshot(at: 10))
        }
    }
}
