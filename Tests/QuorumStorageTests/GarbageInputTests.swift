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
}
