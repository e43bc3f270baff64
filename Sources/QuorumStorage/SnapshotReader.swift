import QuorumCodec
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a snapshot file in chunks, for sending to a follower without holding the whole snapshot in memory.
///
/// The chunks are the file's bytes as stored (one framed record), so the receiver checks the same checksum
/// (`SnapshotStore.decodeFile(_:)`). The sender checks it too: the call that returns the last bytes throws
/// `.corruption` instead if the file does not verify, so a damaged snapshot is never sent as good.
///
/// Not thread-safe; close it when done (also closed on deinit).
public final class SnapshotReader {
    public let file: SnapshotStore.File
    /// The file's size: the total of all chunks.
    public let byteCount: Int

    private var descriptor: Int32
    private var position = 0
    private var runningChecksum = CRC32C.start
    private var storedChecksum: UInt32 = 0
    private var header: [UInt8] = []

    init(file: SnapshotStore.File) throws(StorageError) {
        self.file = file
        do {
            descriptor = try Posix.open(file.path, O_RDONLY)
            byteCount = try Posix.fileSize(descriptor)
        } catch {
            throw StorageError.systemCall(error, path: file.path)
        }
    }

    deinit { close() }

    public func close() {
        guard descriptor >= 0 else { return }
        Posix.close(descriptor)
        descriptor = -1
    }

    /// The next chunk of at most `maxBytes` (at least 1), or nil once everything was read and verified.
    public func nextChunk(maxBytes: Int) throws(StorageError) -> [UInt8]? {
        precondition(maxBytes > 0, "chunks must hold at least one byte")
        guard position < byteCount else { return nil }
        guard descriptor >= 0 else { throw StorageError(.closed, path: file.path, "snapshot reader is closed") }
        var chunk = [UInt8](repeating: 0, count: min(maxBytes, byteCount - position))
        let count = chunk.count
        let result = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(position)) }
        guard result == count else {
            if result < 0 { throw StorageError.systemCall(.lastError("pread"), path: file.path) }
            throw damaged("the file shrank while being read")
        }
        absorb(chunk)
        position += count
        if position == byteCount { try verify() }
        return chunk
    }

    /// Feeds the checksum: header bytes 0..<8 and the payload count, the stored checksum (8..<12) does not.
    private func absorb(_ chunk: [UInt8]) {
        var start = 0
        if header.count < RecordFrame.headerBytes {
            let take = min(RecordFrame.headerBytes - header.count, chunk.count)
            header += chunk[..<take]
            start = take
            if header.count == RecordFrame.headerBytes {
                runningChecksum = CRC32C.update(runningChecksum, with: header[..<8])
                storedChecksum = (8..<12).reduce(0) { $0 | UInt32(header[$1]) << (8 * UInt32($1 - 8)) }
            }
        }
        if start < chunk.count { runningChecksum = CRC32C.update(runningChecksum, with: chunk[start...]) }
    }

    private func verify() throws(StorageError) {
        guard header.count == RecordFrame.headerBytes else { throw damaged("shorter than a record header") }
        let length = (0..<4).reduce(0) { $0 | Int(header[$1]) << (8 * $1) }
        guard length == byteCount - RecordFrame.headerBytes, header[4] == RecordType.snapshot.rawValue else {
            throw damaged("not a single snapshot record")
        }
        guard CRC32C.finish(runningChecksum) == storedChecksum else { throw damaged("checksum mismatch") }
    }

    private func damaged(_ reason: String) -> StorageError {
        StorageError(.corruption, path: file.path, offset: 0, "snapshot \(file.path) is damaged: \(reason)")
    }
}

extension SnapshotStore {
    /// Opens the snapshot file for chunked reading.
    public func openForStreaming(_ file: File) throws(StorageError) -> SnapshotReader {
        try SnapshotReader(file: file)
    }
}
