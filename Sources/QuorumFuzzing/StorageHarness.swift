import QuorumCodec
import QuorumConsensus
import QuorumStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The readers of the data directory: what a disk, a crash or a copied file may hand recovery.
enum StorageHarness {
    /// Nothing here needs to survive a crash of the machine, and an fsync per input would slow the fuzzer down.
    struct UnsyncedFileIO: FileIO {
        func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
            try PosixFileIO().write(bytes, to: descriptor)
        }
        func synchronizeData(of descriptor: Int32) throws(SystemCallError) {}
        func synchronize(_ descriptor: Int32) throws(SystemCallError) {}
    }

    /// The first byte: bit 0 set, every checksum in the rest is made to match first (`resealingChecksums`), so that
    /// the decoders behind the checksums are reached; the second byte sets the streaming reader's chunk size.
    static func snapshotFile(_ input: [UInt8]) throws(FuzzFailure) {
        guard input.count >= 2 else { return }
        let rest = Array(input.dropFirst(2))
        let bytes = input[0] & 1 == 1 ? resealingChecksums(rest) : rest
        let decoded = try? SnapshotStore.decodeFile(bytes)
        if let decoded {
            try expectRoundTrip(decoded, "snapshot file", encode: SnapshotStore.encodeFile) {
                try SnapshotStore.decodeFile($0)
            }
        }
        // The same bytes as a file a leader streams to a follower: what decodes must stream whole.
        let streamed: [UInt8]?
        let directory = scratchDirectory + "/snapshots"
        defer { try? removeFiles(in: directory) }
        do {
            let store = try SnapshotStore(directory: directory, io: UnsyncedFileIO())
            let file = try store.save(
                Snapshot(lastIncludedIndex: 1, lastIncludedTerm: 1, configuration: Configuration(voters: [1]), data: []))
            try writeFile(bytes, to: file.path)
            let reader = try store.openForStreaming(file)
            var chunks: [UInt8] = []
            while let chunk = try? reader.nextChunk(maxBytes: Int(input[1]) + 1) { chunks += chunk }
            streamed = reader.byteCount == chunks.count ? chunks : nil
            reader.close()
        } catch {
            throw FuzzFailure("the scratch snapshot directory failed: \(error)")
        }
        if decoded != nil, streamed != bytes {
            throw FuzzFailure("a snapshot file that decodes does not stream whole")
        }
    }

    /// The first byte: bit 0 set, the checksums of the rest are made to match first. The rest is the log's only
    /// segment. Recovery must refuse it as corrupt, or recover, truncating a torn tail; a log that recovered must
    /// recover again to the same state with nothing left to truncate.
    static func walRecovery(_ input: [UInt8]) throws(FuzzFailure) {
        guard let mode = input.first else { return }
        let rest = Array(input.dropFirst())
        let segment = mode & 1 == 1 ? resealingChecksums(rest) : rest
        let directory = scratchDirectory + "/wal"
        do {
            try removeFiles(in: directory)
            try writeFile(segment, to: directory + "/wal-0000000000000000.log")
        } catch {
            throw FuzzFailure("the scratch log directory failed: \(error)")
        }
        defer { try? removeFiles(in: directory) }
        let options = WriteAheadLog.Options(
            segmentBytes: 1 << 20, recordPayloadBytesMax: 1 << 16, preallocate: false, io: UnsyncedFileIO())
        let first: WriteAheadLogRecovery
        do throws(StorageError) {
            let (log, recovery) = try WriteAheadLog.open(directory: directory, options: options)
            log.close()
            first = recovery
        } catch {
            guard error.code == .corruption || error.code == .missingData else {
                throw FuzzFailure("recovery failed other than by refusing a corrupt log: \(error)")
            }
            return
        }
        do {
            let (log, again) = try WriteAheadLog.open(directory: directory, options: options)
            log.close()
            guard again.tornTail == nil, again.groups == first.groups, again.tombstones == first.tombstones else {
                throw FuzzFailure(
                    "a recovered log recovers differently the second time (torn tail \(String(describing: again.tornTail)))")
            }
        } catch let failure as FuzzFailure {
            throw failure
        } catch {
            throw FuzzFailure("a log that recovered once is refused the second time: \(error)")
        }
    }

    /// `bytes` with the checksum of every storage record in it recomputed, following the records' lengths from the
    /// start (the layout `RecordFrame` documents: length u32, type u8, three reserved bytes, CRC-32C u32 of the
    /// first eight bytes and the payload, payload). Without it a fuzzer never gets past the checksums.
    static func resealingChecksums(_ bytes: [UInt8]) -> [UInt8] {
        var sealed = bytes
        var offset = 0
        while offset + 12 <= sealed.count {
            let length = (0..<4).reduce(0) { $0 | Int(sealed[offset + $1]) << (8 * $1) }
            guard length <= sealed.count - offset - 12 else { break }
            var checksum = CRC32C.update(CRC32C.start, with: sealed[offset..<offset + 8])
            checksum = CRC32C.update(checksum, with: sealed[offset + 12..<offset + 12 + length])
            let crc = CRC32C.finish(checksum)
            for byte in 0..<4 { sealed[offset + 8 + byte] = UInt8(truncatingIfNeeded: crc >> (8 * byte)) }
            offset += 12 + length
        }
        return sealed
    }

    /// A directory of this process's own, made on first use; what the targets write in it they remove.
    static let scratchDirectory: String = {
        var template = Array("/tmp/quorum-fuzz-XXXXXX".utf8CString)
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("cannot make a scratch directory in /tmp: errno \(errno)")
        }
        return String(cString: path)
    }()

    struct ScratchError: Error, CustomStringConvertible {
        var description: String
    }

    private static func writeFile(_ bytes: [UInt8], to path: String) throws(ScratchError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw ScratchError(description: "open \(path): errno \(errno)") }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw ScratchError(description: "write \(path): errno \(errno)") }
    }

    static func readFile(_ path: String) throws(ScratchError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw ScratchError(description: "open \(path): errno \(errno)") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw ScratchError(description: "read \(path): errno \(errno)") }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
    }

    /// Makes `directory` if it is missing, and empties it.
    static func removeFiles(in directory: String) throws(ScratchError) {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw ScratchError(description: "mkdir \(directory): errno \(errno)")
        }
        guard let stream = opendir(directory) else { throw ScratchError(description: "opendir \(directory)") }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { unlink(directory + "/" + name) }
        }
    }
}
