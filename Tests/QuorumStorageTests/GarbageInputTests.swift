import QuorumCodec
import QuorumConsensus
import Testing

@testable import QuorumStorage

/// Disk input never reaches a precondition: random bytes and random damage end in an error, never a trap.
@Suite("Garbage input")
struct GarbageInputTests {
    @Test("random bytes never trap the decoders or the frame parser")
    func randomBytes() {
        var random = SplitMix64(seed: 7)
        for round in 0..<20_000 {
            let count = Int(random.next() % 80)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            // Make some inputs start like real encodings so that decoding gets past the version byte.
            if !bytes.isEmpty && round % 2 == 0 { bytes[0] = 1 }
            var reader = ByteReader(bytes)
            _ = try? Entry.decode(from: &reader)
            reader = ByteReader(bytes)
            _ = try? HardState.decode(from: &reader)
            reader = ByteReader(bytes)
            _ = try? Snapshot.decode(from: &reader)
            reader = ByteReader(bytes)
            _ = try? SnapshotPoint.decode(from: &reader)
            reader = ByteReader(bytes)
            _ = try? GroupRecordPrefix.decode(from: &reader)
            reader = ByteReader(bytes)
            _ = try? GroupCheckpoint.decode(from: &reader)
            _ = RecordFrame.parse(bytes, at: 0, end: bytes.count, payloadBytesMax: 1 << 20)
            _ = try? SnapshotStore.decodeFile(bytes)
        }
    }

    @Test("randomly damaged segments either recover or are refused with a StorageError")
    func randomlyDamagedSegments() throws {
        try withTemporaryDirectory { root in
            let pristine = root + "/pristine"
            try writeLog(pristine, commands(1...40), hardState: HardState(term: 1, votedFor: 1, commitIndex: 40))
            let name = SegmentFile(sequence: 0).fileName
            let original = try readBytes(pristine + "/" + name)
            var random = SplitMix64(seed: 11)
            let copy = root + "/copy"
            try makeDirectory(copy)
            for _ in 0..<200 {
                var damaged = original
                for _ in 0..<(1 + random.next() % 4) {
                    let offset = Int(random.next() % UInt64(damaged.count))
                    damaged[offset] = UInt8(truncatingIfNeeded: random.next())
                }
                if random.next() % 3 == 0 { damaged.removeLast(Int(random.next() % UInt64(damaged.count))) }
                try writeBytes(damaged, to: copy + "/" + name)
                let opened: (WriteAheadLog, WriteAheadLogRecovery)
                do throws(StorageError) {
                    opened = try WriteAheadLog.open(directory: copy)
                    opened.0.close()
                    // Whatever was recovered is a prefix of what was written.
                    #expect(opened.1.entries == Array(commands(1...40).prefix(opened.1.entries.count)))
                } catch {
                    #expect(error.code == .corruption || error.code == .missingData)
                }
            }
        }
    }

    @Test("randomly damaged segments of many groups recover each group to a prefix of its own writes, or are refused")
    func randomlyDamagedManyGroupSegments() throws {
        try withTemporaryDirectory { root in
            let pristine = root + "/pristine"
            let (log, _) = try WriteAheadLog.open(directory: pristine)
            for index in UInt64(1)...12 {
                for group in UInt64(1)...4 {
                    try log.append([groupCommand(group, index)], for: GroupID(group))
                    try log.append(
                        HardState(term: 1, votedFor: NodeID(group), commitIndex: LogIndex(index)), for: GroupID(group))
                }
            }
            try log.sync()
            log.close()
            let name = SegmentFile(sequence: 0).fileName
            let original = try readBytes(pristine + "/" + name)
            var random = SplitMix64(seed: 13)
            let copy = root + "/copy"
            try makeDirectory(copy)
            for _ in 0..<200 {
                var damaged = original
                for _ in 0..<(1 + random.next() % 4) {
                    let offset = Int(random.next() % UInt64(damaged.count))
                    damaged[offset] = UInt8(truncatingIfNeeded: random.next())
                }
                if random.next() % 3 == 0 { damaged.removeLast(Int(random.next() % UInt64(damaged.count))) }
                try writeBytes(damaged, to: copy + "/" + name)
                do throws(StorageError) {
                    let (opened, recovery) = try WriteAheadLog.open(directory: copy)
                    opened.close()
                    #expect(Set(recovery.groups.keys).isSubset(of: [1, 2, 3, 4]))
                    for (group, recovered) in recovery.groups {
                        let own = groupCommands(group.rawValue, 1...12)
                        #expect(recovered.entries == Array(own.prefix(recovered.entries.count)), "\(group)")
                        #expect(recovered.hardState.map { $0.votedFor == NodeID(group.rawValue) } ?? true)
                    }
                } catch {
                    #expect(error.code == .corruption || error.code == .missingData)
                }
            }
        }
    }

    @Test("a checksum-valid record that names its group in an unknown layout is refused as corruption")
    func unknownGroupLayoutRefused() throws {
        try withTemporaryDirectory { directory in
            try writeLog(directory, commands(1...3))
            let segment = directory + "/" + SegmentFile(sequence: 0).fileName
            let end = try readBytes(segment).count
            var record = ByteWriter(capacity: 64)
            RecordFrame.append(.entry, to: &record) { writer in
                writer.write(UInt8(2))  // A layout this build does not know.
                writer.write(UInt64(1))
                command(4).encode(into: &writer)
            }
            try writeBytes(try readBytes(segment) + record.bytes, to: segment)
            let error = expectStorageError { try WriteAheadLog.open(directory: directory) }
            #expect(error?.code == .corruption)
            #expect(error?.offset == end)
            #expect(error?.message.contains("group record layout encoding version 2") == true)
        }
    }

    @Test("a record of a destroyed group after its tombstone is refused as corruption, never given to anyone")
    func recordAfterTombstoneRefused() throws {
        try withTemporaryDirectory { directory in
            let (log, _) = try WriteAheadLog.open(directory: directory)
            try log.append(groupCommands(5, 1...3), for: 5)
            try log.appendTombstone(for: 5)
            #expect(expectStorageError { try log.append([groupCommand(5, 4)], for: 5) }?.code == .groupDestroyed)
            try log.sync()
            log.close()
            let segment = directory + "/" + SegmentFile(sequence: 0).fileName
            let end = try readBytes(segment).count
            // What no correct log holds: an entry of group 5 after its tombstone, with a valid checksum.
            var record = ByteWriter(capacity: 64)
            RecordFrame.append(.entry, to: &record) { writer in
                GroupRecordPrefix.encode(5, into: &writer)
                groupCommand(5, 4).encode(into: &writer)
            }
            try writeBytes(try readBytes(segment) + record.bytes, to: segment)
            let error = expectStorageError { try WriteAheadLog.open(directory: directory) }
            #expect(error?.code == .corruption)
            #expect(error?.offset == end)
            #expect(error?.message.contains("after its tombstone") == true)
        }
    }
}
