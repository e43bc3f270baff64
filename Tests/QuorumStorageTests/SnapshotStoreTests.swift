import QuorumConsensus
import Testing

@testable import QuorumStorage

@Suite("Snapshot store")
struct SnapshotStoreTests {
    static func bigSnapshot(at index: UInt64) -> Snapshot {
        Snapshot(
            lastIncludedIndex: LogIndex(index), lastIncludedTerm: 2,
            configuration: Configuration(voters: [1, 2, 3], learners: [4]),
            data: (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
    }

    @Test("saved snapshots load back, newest first; no temporary file is left behind")
    func saveAndLoad() throws {
        try withTemporaryDirectory { directory in
            let store = try SnapshotStore(directory: directory)
            try store.save(Self.bigSnapshot(at: 10))
            try store.save(Self.bigSnapshot(at: 30))
            try store.save(Self.bigSnapshot(at: 20))
            let files = try store.files()
            #expect(files.map(\.point.index) == [30, 20, 10])
            #expect(try store.load(files[0]) == Self.bigSnapshot(at: 30))
            #expect(try Posix.listDirectory(directory).allSatisfy { $0.hasSuffix(".snap") })
            try store.removeOlder(than: files[1])
            #expect(try store.files().map(\.point.index) == [30, 20])
        }
    }

    @Test("a bit flip anywhere in a snapshot file is detected and names the file")
    func bitFlipsDetected() throws {
        try withTemporaryDirectory { directory in
            let store = try SnapshotStore(directory: directory)
            let file = try store.save(Self.bigSnapshot(at: 10))
            let size = try readBytes(file.path).count
            for offset in stride(from: 0, to: size, by: 997) {
                try flipBit(in: file.path, atByte: offset, bit: offset % 8)
                let error = expectStorageError { try store.load(file) }
                #expect(error?.code == .corruption)
                #expect(error?.path == file.path)
                try flipBit(in: file.path, atByte: offset, bit: offset % 8)
            }
            #expect(try store.load(file) == Self.bigSnapshot(at: 10))
        }
    }

    @Test("leftover temporary files from a crash mid-save are removed on open")
    func leftoverTemporaryRemoved() throws {
        try withTemporaryDirectory { directory in
            try writeBytes([1, 2, 3], to: directory + "/snapshot-0000000000000005-0000000000000001.snap.tmp")
            let store = try SnapshotStore(directory: directory)
            #expect(try store.files().isEmpty)
            #expect(try Posix.listDirectory(directory).isEmpty)
        }
    }

    @Test(
        "streaming a snapshot in chunks yields the file, which decodes to the snapshot",
        arguments: [1, 100, 4096, 1 << 20])
    func streaming(chunkBytes: Int) throws {
        try withTemporaryDirectory { directory in
            let store = try SnapshotStore(directory: directory)
            let file = try store.save(Self.bigSnapshot(at: 10))
            let reader = try store.openForStreaming(file)
            defer { reader.close() }
            var received: [UInt8] = []
            while let chunk = try reader.nextChunk(maxBytes: chunkBytes) {
                #expect(chunk.count <= chunkBytes)
                received += chunk
            }
            #expect(received.count == reader.byteCount)
            #expect(try SnapshotStore.decodeFile(received) == Self.bigSnapshot(at: 10))
        }
    }

    @Test("streaming a damaged snapshot fails on the last chunk instead of sending it as good")
    func streamingDamaged() throws {
        try withTemporaryDirectory { directory in
            let store = try SnapshotStore(directory: directory)
            let file = try store.save(Self.bigSnapshot(at: 10))
            try flipBit(in: file.path, atByte: 5000)
            let reader = try store.openForStreaming(file)
            defer { reader.close() }
            let error = expectStorageError {
                while try reader.nextChunk(maxBytes: 4096) != nil {}
            }
            #expect(error?.code == .corruption)
            #expect(error?.message.contains("checksum") == true)
        }
    }
}
