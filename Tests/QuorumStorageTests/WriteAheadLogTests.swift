import Foundation
import QuorumConsensus
import Testing

@testable import QuorumStorage

@Suite("Write-ahead log")
struct WriteAheadLogTests {
    @Test("entries and the newest hard state survive a close and reopen")
    func roundTrip() throws {
        try withTemporaryDirectory { directory in
            try writeLog(directory, commands(1...50), hardState: HardState(term: 1, votedFor: 2, commitIndex: 10))
            try writeLog(directory, commands(51...100), hardState: HardState(term: 3, votedFor: nil, commitIndex: 90))
            let (log, recovery) = try WriteAheadLog.open(directory: directory)
            defer { log.close() }
            #expect(recovery.entries == commands(1...100))
            #expect(recovery.hardState == HardState(term: 3, votedFor: nil, commitIndex: 90))
            #expect(recovery.tornTail == nil)
        }
    }

    @Test("an entry at an existing index replaces it and everything after it")
    func conflictingSuffixReplaced() throws {
        try withTemporaryDirectory { directory in
            try writeLog(directory, commands(1...10))
            try writeLog(directory, commands(6...8, term: 2))
            let (log, recovery) = try WriteAheadLog.open(directory: directory)
            defer { log.close() }
            #expect(recovery.entries == commands(1...5) + commands(6...8, term: 2))
        }
    }

    @Test("a gap between entries is refused as corruption")
    func gapRefused() throws {
        try withTemporaryDirectory { directory in
            // The log itself refuses to write a gap (see the exit test below), so splice one in on disk.
            try writeLog(directory + "/a", commands(1...3))
            try writeLog(directory + "/b", commands(5...6))
            let name = SegmentFile(sequence: 0).fileName
            // Record 0 is b's segment header, 1 is entry 5: a fresh log has no hard state to copy after the header.
            let spliceStart = try recordOffsets(in: directory + "/b/" + name)[1]
            try writeBytes(
                try readBytes(directory + "/a/" + name)
                    + Array(try readBytes(directory + "/b/" + name)[spliceStart...]),
                to: directory + "/a/" + name)
            let entryFive =
                try readBytes(directory + "/a/" + name).count
                - (try readBytes(directory + "/b/" + name).count - spliceStart)
            let error = expectStorageError { try WriteAheadLog.open(directory: directory + "/a") }
            #expect(error?.offset == entryFive)
            #expect(error?.code == .corruption)
            #expect(error?.message.contains("gap") == true)
        }
    }

    @Test("segments roll over at the configured size; compaction removes whole segments before an index")
    func rolloverAndCompaction() throws {
        try withTemporaryDirectory { directory in
            let options = WriteAheadLog.Options(segmentBytes: 2048)
            let (log, _) = try WriteAheadLog.open(directory: directory, options: options)
            for start in stride(from: UInt64(1), through: 291, by: 10) {
                try log.append(commands(start...start + 9), for: testGroup)
                try log.append(HardState(term: 1, votedFor: 1, commitIndex: LogIndex(start + 9)), for: testGroup)
                try log.sync()
            }
            let segmentsBefore = log.segmentCount
            #expect(segmentsBefore > 5)
            let removed = try log.releaseSegments(of: testGroup, through: 150)
            #expect(removed > 0)
            #expect(log.segmentCount == segmentsBefore - removed)
            log.close()

            let (reopened, recovery) = try WriteAheadLog.open(directory: directory, options: options)
            defer { reopened.close() }
            let first = try #require(recovery.entries.first)
            #expect(first.index > 1 && first.index <= 151)
            #expect(recovery.entries.last?.index == 300)
            #expect(recovery.entries == commands(first.index.rawValue...300))
            // The hard state survives although the segments that first held it are gone.
            #expect(recovery.hardState == HardState(term: 1, votedFor: 1, commitIndex: 300))
        }
    }

    @Test("truncating the last segment at every byte offset of its last record recovers the prefix and reports it")
    func tornTailAtEveryOffset() throws {
        try withTemporaryDirectory { root in
            let pristine = root + "/pristine"
            try writeLog(pristine, commands(1...19), hardState: HardState(term: 1, votedFor: 1, commitIndex: 19))
            try writeLog(pristine, [command(20)])
            let segment = pristine + "/" + SegmentFile(sequence: 0).fileName
            let original = try readBytes(segment)
            let lastRecordStart = try #require(try recordOffsets(in: segment).last)
            #expect(original.count - lastRecordStart > RecordFrame.headerBytes)

            let copy = root + "/copy"
            try makeDirectory(copy)
            let copySegment = copy + "/" + SegmentFile(sequence: 0).fileName
            for kept in 0..<(original.count - lastRecordStart) {
                try writeBytes(Array(original[..<(lastRecordStart + kept)]), to: copySegment)
                let (log, recovery) = try WriteAheadLog.open(directory: copy)
                #expect(recovery.entries == commands(1...19), "cut after \(kept) bytes of the last record")
                #expect(recovery.hardState?.commitIndex == 19)
                if kept == 0 {
                    #expect(recovery.tornTail == nil)
                } else {
                    #expect(recovery.tornTail?.droppedBytes == kept, "cut after \(kept) bytes")
                    #expect(recovery.tornTail?.offset == lastRecordStart)
                    #expect(recovery.tornTail?.path == copySegment)
                }
                #expect(try readBytes(copySegment).count == lastRecordStart)
                // The log continues where the torn write began.
                try log.append([command(20)], for: testGroup)
                try log.sync()
                log.close()
                let (again, recoveredAgain) = try WriteAheadLog.open(directory: copy)
                again.close()
                #expect(recoveredAgain.entries == commands(1...20))
                #expect(recoveredAgain.tornTail == nil)
            }
        }
    }

    @Test("a bit flipped in the last record is a torn tail: dropped and reported")
    func bitFlipInLastRecordIsTornTail() throws {
        try withTemporaryDirectory { directory in
            try writeLog(directory, commands(1...10))
            let segment = directory + "/" + SegmentFile(sequence: 0).fileName
            let last = try #require(try recordOffsets(in: segment).last)
            try flipBit(in: segment, atByte: last + RecordFrame.headerBytes + 3)
            let (log, recovery) = try WriteAheadLog.open(directory: directory)
            log.close()
            #expect(recovery.entries == commands(1...9))
            #expect(recovery.tornTail?.offset == last)
            #expect(recovery.tornTail?.reason.contains("checksum") == true)
        }
    }

    @Test("a bit flipped mid-log in the last segment is refused, naming the file and offset")
    func bitFlipMidLogRefused() throws {
        try withTemporaryDirectory { directory in
            try writeLog(directory, commands(1...10))
            let segment = directory + "/" + SegmentFile(sequence: 0).fileName
            let offsets = try recordOffsets(in: segment)
            for (position, bytePastHeader) in [(5, 20), (offsets.count - 2, 0)] {
                let target = offsets[position]
                try flipBit(in: segment, atByte: target + bytePastHeader, bit: 3)
                let error = expectStorageError { try WriteAheadLog.open(directory: directory) }
                #expect(error?.code == .corruption)
                #expect(error?.path == segment)
                #expect(error?.offset == target)
                #expect(error?.message.contains("offset \(target) of \(segment)") == true)
                try flipBit(in: segment, atByte: target + bytePastHeader, bit: 3)
            }
            // Flipped back: the log is whole again.
            let (log, recovery) = try WriteAheadLog.open(directory: directory)
            log.close()
            #expect(recovery.entries == commands(1...10))
        }
    }

    @Test("a bad record in a segment that is not the last is refused, even at that segment's end")
    func bitFlipInEarlierSegmentRefused() throws {
        try withTemporaryDirectory { directory in
            let options = WriteAheadLog.Options(segmentBytes: 1024)
            try writeLog(directory, commands(1...60), options: options)
            let first = directory + "/" + SegmentFile(sequence: 0).fileName
            let last = try #require(try recordOffsets(in: first).last)
            try flipBit(in: first, atByte: last + RecordFrame.headerBytes + 1)
            let error = expectStorageError { try WriteAheadLog.open(directory: directory, options: options) }
            #expect(error?.code == .corruption)
            #expect(error?.path == first)
            #expect(error?.offset == last)

            // Cutting an earlier segment short is refused as well: only the last segment can have a torn tail.
            try flipBit(in: first, atByte: last + RecordFrame.headerBytes + 1)
            let bytes = try readBytes(first)
            try writeBytes(Array(bytes.dropLast(3)), to: first)
            #expect(
                expectStorageError { try WriteAheadLog.open(directory: directory, options: options) }?.offset == last)
        }
    }

    @Test("a segment removed from the middle is refused, naming the missing segment")
    func missingSegmentRefused() throws {
        try withTemporaryDirectory { directory in
            let options = WriteAheadLog.Options(segmentBytes: 1024)
            try writeLog(directory, commands(1...60), options: options)
            let missing = directory + "/" + SegmentFile(sequence: 1).fileName
            try removeFile(missing)
            let error = expectStorageError { try WriteAheadLog.open(directory: directory, options: options) }
            #expect(error?.code == .missingData)
            #expect(error?.path == missing)
            #expect(error?.message.contains(SegmentFile(sequence: 1).fileName) == true)
        }
    }

    @Test("a renamed segment is refused: its header names another sequence number")
    func renamedSegmentRefused() throws {
        try withTemporaryDirectory { directory in
            try writeLog(directory, commands(1...5))
            try moveFile(
                directory + "/" + SegmentFile(sequence: 0).fileName, directory + "/" + SegmentFile(sequence: 7).fileName
            )
            try writeLog(directory + "/other", commands(1...5))
            let error = expectStorageError { try WriteAheadLog.open(directory: directory) }
            #expect(error?.code == .corruption)
            #expect(error?.offset == 0)
        }
    }

    @Test("a full disk fails the write, then every later call; what was synced before survives")
    func noSpace() throws {
        try withTemporaryDirectory { directory in
            let io = FaultyFileIO()
            let (log, _) = try WriteAheadLog.open(directory: directory, options: .init(io: io))
            try log.append(commands(1...10), for: testGroup)
            try log.sync()
            io.allow(bytes: 300)
            try log.append(commands(11...20), for: testGroup)
            let error = expectStorageError { try log.sync() }
            #expect(error?.code == .noSpace)
            #expect(error?.message.contains("no space left") == true)
            let later = expectStorageError { try log.append(commands(21...21), for: testGroup) }
            #expect(later?.code == .storageFailed)
            log.close()

            let (reopened, recovery) = try WriteAheadLog.open(directory: directory)
            reopened.close()
            #expect(Array(recovery.entries.prefix(10)) == commands(1...10))
            #expect(recovery.entries.count < 20)
            #expect(recovery.tornTail != nil)
        }
    }

    @Test("a failed fdatasync is never retried: the log refuses everything after it")
    func failedSync() throws {
        try withTemporaryDirectory { directory in
            let io = FaultyFileIO()
            let (log, _) = try WriteAheadLog.open(directory: directory, options: .init(io: io))
            try log.append(commands(1...3), for: testGroup)
            io.failSyncs(true)
            #expect(expectStorageError { try log.sync() }?.code == .ioFailure)
            io.failSyncs(false)
            #expect(expectStorageError { try log.sync() }?.code == .storageFailed)
            log.close()
        }
    }

    @Test("appending entries that would leave a gap is a programming error and stops the process")
    func appendingAGapTraps() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "quorum-storage-tests-\(UUID().uuidString)"
        ).path
        // The child process traps, so the directory is removed here, in the parent.
        defer { try? FileManager.default.removeItem(atPath: directory) }
        await #expect(processExitsWith: .failure) { [directory = directory as String] in
            let (log, _) = try WriteAheadLog.open(directory: directory)
            try log.append(commands(1...3), for: testGroup)
            try log.append(commands(5...6), for: testGroup)
        }
    }
}

extension WriteAheadLogTests {
    @Test("an entry larger than the maximum record size is refused and leaves nothing of its batch behind")
    func oversizedEntryRefused() throws {
        try withTemporaryDirectory { directory in
            let (log, _) = try WriteAheadLog.open(directory: directory, options: .init(recordPayloadBytesMax: 200))
            let huge = Entry(term: 1, index: 2, kind: .command([UInt8](repeating: 1, count: 500)))
            let error = expectStorageError { try log.append([command(1), huge], for: testGroup) }
            #expect(error?.code == .recordTooLarge)
            try log.append(commands(1...3), for: testGroup)
            try log.sync()
            log.close()
            let (reopened, recovery) = try WriteAheadLog.open(directory: directory)
            reopened.close()
            #expect(recovery.entries == commands(1...3))
        }
    }

    @Test("a snapshot reset clears the log; the entries after it follow the snapshot")
    func snapshotReset() throws {
        try withTemporaryDirectory { directory in
            let (log, _) = try WriteAheadLog.open(directory: directory)
            try log.append(commands(1...10), for: testGroup)
            try log.appendSnapshotReset(SnapshotPoint(index: 50, term: 3), for: testGroup)
            try log.append(commands(51...53, term: 3), for: testGroup)
            try log.sync()
            log.close()
            let (reopened, recovery) = try WriteAheadLog.open(directory: directory)
            reopened.close()
            #expect(recovery.snapshotReset == SnapshotPoint(index: 50, term: 3))
            #expect(recovery.entries == commands(51...53, term: 3))
        }
    }
}
