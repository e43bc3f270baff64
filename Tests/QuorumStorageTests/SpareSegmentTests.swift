import Foundation
import QuorumCodec
import QuorumConsensus
import Testing

@testable import QuorumStorage

/// The spare segment file the log keeps ready ahead of need, and every crash a rollover through it can suffer.
@Suite("Spare segment")
struct SpareSegmentTests {
    @Test("a leftover spare is deleted on open and never read as a segment, not even its newer hard state")
    func leftoverSpareIgnoredAndRemoved() throws {
        try withTemporaryDirectory { directory in
            let hardState = HardState(term: 2, votedFor: 1, commitIndex: 5)
            try writeLog(directory, commands(1...10), hardState: hardState)
            // What a crash between writing the spare and renaming it leaves behind, plus an entry that no
            // rollover would ever write there: recovery must not read any of it.
            var leftover = ByteWriter(capacity: 256)
            RecordFrame.append(.segmentHeader, to: &leftover) { SegmentFile(sequence: 1).encodeHeader(into: &$0) }
            RecordFrame.append(.hardState, to: &leftover) {
                GroupRecordPrefix.encode(testGroup, into: &$0)
                HardState(term: 9, votedFor: 3, commitIndex: 11).encode(into: &$0)
            }
            RecordFrame.append(.entry, to: &leftover) {
                GroupRecordPrefix.encode(testGroup, into: &$0)
                command(11, term: 9).encode(into: &$0)
            }
            let sparePath = directory + "/" + SegmentFile.spareFileName
            try writeBytes(leftover.bytes, to: sparePath)

            let (log, recovery) = try WriteAheadLog.open(directory: directory)
            #expect(recovery.entries == commands(1...10))
            #expect(recovery.hardState == hardState)
            #expect(recovery.segmentCount == 1)
            // Replaced by a fresh spare, holding nothing.
            #expect(fileStatus(sparePath)?.st_size == 0)
            #expect(
                try Posix.listDirectory(directory) == [SegmentFile(sequence: 0).fileName, SegmentFile.spareFileName])
            try log.append([command(11)], for: testGroup)
            try log.sync()
            log.close()

            let (reopened, again) = try WriteAheadLog.open(directory: directory)
            reopened.close()
            #expect(again.entries == commands(1...11))
            #expect(again.hardState == hardState)
        }
    }

    @Test("a rollover turns the spare into the next segment; a new spare is prepared on request or made if missing")
    func rolloverConsumesSpare() throws {
        try withTemporaryDirectory { directory in
            let options = WriteAheadLog.Options(segmentBytes: 2048, preallocate: true)
            let sparePath = directory + "/" + SegmentFile.spareFileName
            let (log, _) = try WriteAheadLog.open(directory: directory, options: options)
            let openedSpare = try #require(fileStatus(sparePath))
            #expect(openedSpare.st_size == 0, "the spare holds no records")
            #if os(Linux)
                // Reserved with FALLOC_FL_KEEP_SIZE: blocks allocated, size unchanged (st_blocks counts 512 bytes).
                #expect(Int(openedSpare.st_blocks) * 512 >= options.segmentBytes)
            #endif
            #expect(!log.needsSpareSegment)

            var next: UInt64 = 1
            var hardState = HardState()
            /// Appends and syncs batches of entries until the log has `segments` segments.
            func fill(untilSegments segments: Int) throws {
                while log.segmentCount < segments {
                    try log.append(commands(next...next + 4), for: testGroup)
                    hardState = HardState(term: 1, votedFor: 1, commitIndex: LogIndex(next))
                    try log.append(hardState, for: testGroup)
                    try log.sync()
                    next += 5
                }
            }

            try fill(untilSegments: 2)
            // The spare became segment 1 (same file), and is gone until prepared again.
            #expect(fileStatus(directory + "/" + SegmentFile(sequence: 1).fileName)?.st_ino == openedSpare.st_ino)
            #expect(fileStatus(sparePath) == nil)
            #expect(log.needsSpareSegment)

            // Nobody prepared a spare: the rollover makes one itself.
            try fill(untilSegments: 3)
            #expect(fileStatus(directory + "/" + SegmentFile(sequence: 2).fileName) != nil)

            try log.prepareSpareSegment()
            #expect(!log.needsSpareSegment)
            let preparedSpare = try #require(fileStatus(sparePath))
            #expect(preparedSpare.st_size == 0)
            try log.prepareSpareSegment()  // A spare is ready: nothing to do.
            #expect(fileStatus(sparePath)?.st_ino == preparedSpare.st_ino)
            try fill(untilSegments: 4)
            #expect(fileStatus(directory + "/" + SegmentFile(sequence: 3).fileName)?.st_ino == preparedSpare.st_ino)
            log.close()

            let (reopened, recovery) = try WriteAheadLog.open(directory: directory, options: options)
            reopened.close()
            #expect(recovery.segmentCount == 4)
            #expect(recovery.entries == commands(1...next - 1))
            #expect(recovery.hardState == hardState)
        }
    }

    @Test("the fsync thread prepares the next spare once it is idle after a rollover")
    func nodeStoragePreparesSpareWhenIdle() throws {
        try withTemporaryDirectory { path in
            let options = SingleGroupStorage.Options(writeAheadLog: .init(segmentBytes: 2048))
            let reports = Reports()
            let storage = try SingleGroupStorage(path: path, options: options, onDurable: reports.onDurable)
            defer { storage.close() }
            let wal = path + "/wal"
            let sparePath = wal + "/" + SegmentFile.spareFileName
            let openedSpare = try #require(fileStatus(sparePath))
            for number in UInt64(1)...10 {
                let first = (number - 1) * 10 + 1
                storage.persist(batch(number, entries: commands(first...first + 9)))
            }
            #expect(reports.wait { $0.durableNumbers.last == 10 })
            let segments = try Posix.listDirectory(wal).compactMap(SegmentFile.init(fileName:))
            #expect(segments.count > 2)
            #expect(fileStatus(wal + "/" + SegmentFile(sequence: 1).fileName)?.st_ino == openedSpare.st_ino)
            #expect(reports.wait { _ in fileStatus(sparePath)?.st_size == 0 }, "no spare prepared after the rollovers")
        }
    }

    enum CrashOutcome: Sendable, CustomStringConvertible {
        /// The crash hit the spare's fdatasync: the spare holds the new segment's start under its own name.
        case spareWrittenNotRenamed
        /// The crash hit the directory fsync after the rename, and the rename reached the disk.
        case renamedDirectoryNotSynced
        /// The crash hit the directory fsync after the rename, and the rename did not reach the disk.
        case renameLost

        var step: CrashingFileIO.Step {
            switch self {
            case .spareWrittenNotRenamed: .spareDataSync
            case .renamedDirectoryNotSynced, .renameLost: .directorySync
            }
        }

        var description: String {
            switch self {
            case .spareWrittenNotRenamed: "spare written, not renamed"
            case .renamedDirectoryNotSynced: "renamed, directory not synced, rename kept"
            case .renameLost: "renamed, directory not synced, rename lost"
            }
        }
    }

    @Test(
        "a crash at any step of a rollover loses no acknowledged record and lets no stale hard state win",
        arguments: [CrashOutcome.spareWrittenNotRenamed, .renamedDirectoryNotSynced, .renameLost])
    func crashDuringRollover(outcome: CrashOutcome) throws {
        try withTemporaryDirectory { directory in
            let io = CrashingFileIO(logDirectory: directory)
            let (log, _) = try WriteAheadLog.open(directory: directory, options: .init(segmentBytes: 2048, io: io))
            io.arm(outcome.step)
            var acknowledged: [Entry] = []
            var acknowledgedHardState: HardState?
            var inFlight: (entries: [Entry], hardState: HardState)?
            var next: UInt64 = 1
            while inFlight == nil {
                let entries = commands(next...next + 4)
                let hardState = HardState(term: 1, votedFor: 1, commitIndex: LogIndex(next))
                do {
                    try log.append(entries, for: testGroup)
                    try log.append(hardState, for: testGroup)
                    try log.sync()
                    acknowledged += entries
                    acknowledgedHardState = hardState
                    next += 5
                } catch {
                    inFlight = (entries, hardState)
                }
            }
            #expect(io.crashed)
            #expect(!acknowledged.isEmpty, "the crash came before anything was acknowledged; the test shows nothing")
            log.close()

            let sparePath = directory + "/" + SegmentFile.spareFileName
            let newSegmentPath = directory + "/" + SegmentFile(sequence: 1).fileName
            switch outcome {
            case .spareWrittenNotRenamed:
                #expect(fileStatus(newSegmentPath) == nil)
                #expect((fileStatus(sparePath)?.st_size ?? 0) > 0, "the spare holds the new segment's start")
            case .renamedDirectoryNotSynced:
                #expect(fileStatus(sparePath) == nil)
                #expect(fileStatus(newSegmentPath) != nil)
            case .renameLost:
                try moveFile(newSegmentPath, sparePath)
            }

            let (reopened, recovery) = try WriteAheadLog.open(directory: directory)
            #expect(recovery.segmentCount == (outcome == .renamedDirectoryNotSynced ? 2 : 1))
            #expect(fileStatus(sparePath)?.st_size == 0, "a leftover spare is replaced by an empty one")
            // The rollover's own sync may have made part of the in-flight batch durable, never less than was
            // acknowledged and never anything else.
            let inFlightEntries = try #require(inFlight?.entries)
            let possible = (0...inFlightEntries.count).map { acknowledged + inFlightEntries.prefix($0) }
            #expect(possible.contains(recovery.entries), "recovered \(recovery.entries.count) entries")
            #expect(recovery.entries.count >= acknowledged.count)
            #expect(recovery.hardState == acknowledgedHardState || recovery.hardState == inFlight?.hardState)
            // The log carries on from there.
            let resume = (recovery.entries.last?.index.rawValue ?? 0) + 1
            try reopened.append(commands(resume...resume + 30), for: testGroup)
            try reopened.sync()
            reopened.close()
            let (again, final) = try WriteAheadLog.open(directory: directory)
            again.close()
            #expect(final.entries == commands(1...resume + 30))
        }
    }
}
