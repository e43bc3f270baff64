import QuorumCodec
import QuorumConsensus

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A segmented write-ahead log of log entries, hard states and snapshot resets.
///
/// Records (see `RecordFrame`) are appended to the newest segment; when it reaches `segmentBytes` it is synced
/// and closed and a new one starts with a header and a copy of the current hard state, so removing older
/// segments never loses the hard state. Appends collect in memory until `flush()` hands them to the kernel in
/// one write; `sync()` also fdatasyncs, which is what makes them durable. That is group commit: a caller
/// appends many batches and syncs once.
///
/// Truncation of a conflicting suffix needs no record of its own: an entry record at index i replaces every
/// entry at or after i, exactly as `PersistBatch` asks.
///
/// Not thread-safe: one thread (the node storage's fsync thread) owns it. After any failed write or sync it
/// refuses everything (`.storageFailed`): after a failed fsync the kernel may have dropped the dirty pages, so
/// retrying could report data durable that is not (the "fsyncgate" lesson).
public final class WriteAheadLog {
    public struct Options: Sendable {
        /// A segment is closed and a new one started once it holds this many bytes.
        public var segmentBytes: Int
        /// The largest record payload accepted, on write and on recovery (checked before allocating).
        public var recordPayloadBytesMax: Int
        /// Whether to reserve each segment's blocks when it is created (see `Preallocation`).
        public var preallocate: Bool
        public var io: any FileIO

        public init(
            segmentBytes: Int = 64 << 20, recordPayloadBytesMax: Int = 64 << 20, preallocate: Bool = true,
            io: any FileIO = PosixFileIO()
        ) {
            precondition(segmentBytes > 0 && recordPayloadBytesMax > 0, "sizes must be positive")
            self.segmentBytes = segmentBytes
            self.recordPayloadBytesMax = recordPayloadBytesMax
            self.preallocate = preallocate
            self.io = io
        }
    }

    struct Segment {
        let file: SegmentFile
        /// The highest log index any record in this segment names (entries and snapshot resets); zero if none.
        var highestIndex: LogIndex
    }

    public let directory: String
    let options: Options
    /// Oldest first; the last one is the active segment. Never empty while open.
    var segments: [Segment]
    /// The active segment's descriptor, positioned at its end.
    var activeDescriptor: Int32
    /// Bytes of the active segment already handed to the kernel.
    var activeBytes: Int
    /// Records appended but not yet written.
    var pending = ByteWriter(capacity: 1 << 16)
    /// The newest hard state appended, copied to the start of each new segment.
    private(set) var hardState: HardState
    /// The index of the last entry (or snapshot reset) in the log; nil when unknown because the log holds none,
    /// for example after compaction removed every segment that had entries.
    public private(set) var lastIndex: LogIndex?
    /// Set by the first failed write or sync; every later call throws it.
    private(set) var failure: StorageError?

    init(
        directory: String, options: Options, segments: [Segment], activeDescriptor: Int32, activeBytes: Int,
        hardState: HardState, lastIndex: LogIndex?
    ) {
        precondition(!segments.isEmpty, "a write-ahead log always has an active segment")
        self.directory = directory
        self.options = options
        self.segments = segments
        self.activeDescriptor = activeDescriptor
        self.activeBytes = activeBytes
        self.hardState = hardState
        self.lastIndex = lastIndex
    }

    deinit { close() }

    /// Number of segment files, the active one included.
    public var segmentCount: Int { segments.count }
    var activePath: String { directory + "/" + segments[segments.count - 1].file.fileName }

    // MARK: Appending

    /// Appends entries; each replaces any stored entry at or after its index. Not durable until `sync()`.
    ///
    /// Precondition: `entries` are contiguous and start no later than right after `lastIndex`. A gap would make
    /// the log unrecoverable (recovery refuses it), so it is treated as the programming error it is.
    /// - Throws: `.recordTooLarge` (nothing appended) or the failure that stopped the log.
    public func append(_ entries: [Entry]) throws(StorageError) {
        try checkUsable()
        guard let first = entries.first else { return }
        for (earlier, later) in zip(entries, entries.dropFirst()) {
            precondition(
                later.index == earlier.index.advanced(by: 1),
                "entries \(earlier.index), \(later.index) are not contiguous")
        }
        if let lastIndex {
            precondition(
                first.index <= lastIndex.advanced(by: 1), "entry \(first.index) would leave a gap after \(lastIndex)")
        }
        // Checked before anything is appended, so that a refused batch leaves no part of itself behind.
        if let oversized = entries.first(where: { $0.encodedBytes > options.recordPayloadBytesMax }) {
            throw StorageError(
                .recordTooLarge,
                "entry \(oversized.index) encodes to \(oversized.encodedBytes) bytes, more than the maximum "
                    + "record size of \(options.recordPayloadBytesMax); raise recordPayloadBytesMax or propose "
                    + "smaller commands")
        }
        for entry in entries {
            RecordFrame.append(.entry, to: &pending) { entry.encode(into: &$0) }
            noteIndex(entry.index)
            lastIndex = entry.index
            try rollOverIfFull()
        }
    }

    /// Appends a hard state; the newest one appended wins on recovery. Not durable until `sync()`.
    public func append(_ hardState: HardState) throws(StorageError) {
        try checkUsable()
        RecordFrame.append(.hardState, to: &pending) { hardState.encode(into: &$0) }
        self.hardState = hardState
        try rollOverIfFull()
    }

    /// Records that a snapshot from the leader replaced the whole log; the snapshot itself must already be
    /// durable in the snapshot store. Entries appended afterwards start right after `point`.
    public func appendSnapshotReset(_ point: SnapshotPoint) throws(StorageError) {
        try checkUsable()
        RecordFrame.append(.snapshotReset, to: &pending) { point.encode(into: &$0) }
        noteIndex(point.index)
        lastIndex = point.index
        try rollOverIfFull()
    }

    /// Hands everything appended to the kernel in one write. Survives a process crash, not a machine crash.
    public func flush() throws(StorageError) {
        try checkUsable()
        guard !pending.bytes.isEmpty else { return }
        do {
            try options.io.write(pending.bytes, to: activeDescriptor)
        } catch {
            throw fail(StorageError.systemCall(error, path: activePath))
        }
        activeBytes += pending.bytes.count
        pending.bytes.removeAll(keepingCapacity: true)
    }

    /// Makes everything appended durable: one write, one fdatasync.
    public func sync() throws(StorageError) {
        try flush()
        do {
            try options.io.synchronizeData(of: activeDescriptor)
        } catch {
            throw fail(StorageError.systemCall(error, path: activePath))
        }
    }

    // MARK: Compaction

    /// Removes whole segments, oldest first, while every index they name is at most `index` (entries a
    /// snapshot covers). The active segment is never removed.
    /// - Returns: how many segments were removed.
    @discardableResult
    public func removeSegments(through index: LogIndex) throws(StorageError) -> Int {
        try checkUsable()
        var removed = 0
        while segments.count > 1, segments[0].highestIndex <= index {
            let path = directory + "/" + segments[0].file.fileName
            do { try Posix.remove(path) } catch { throw fail(StorageError.systemCall(error, path: path)) }
            segments.removeFirst()
            removed += 1
        }
        if removed > 0 {
            do {
                try Posix.synchronizeDirectory(directory, io: options.io)
            } catch {
                throw fail(StorageError.systemCall(error, path: directory))
            }
        }
        return removed
    }

    /// Closes the active segment without syncing. Idempotent.
    public func close() {
        guard activeDescriptor >= 0 else { return }
        Posix.close(activeDescriptor)
        activeDescriptor = -1
        if failure == nil {
            failure = StorageError(.closed, path: directory, "the write-ahead log in \(directory) is closed")
        }
    }

    // MARK: Internals

    private func checkUsable() throws(StorageError) {
        if let failure { throw failure }
    }

    /// Remembers the first failure; everything after it is refused with an error that names it.
    func fail(_ error: StorageError) -> StorageError {
        if failure == nil {
            failure = StorageError(
                .storageFailed, path: error.path,
                "the write-ahead log in \(directory) stopped after a failed write: \(error.message)")
        }
        return error
    }

    private func noteIndex(_ index: LogIndex) {
        let last = segments.count - 1
        segments[last].highestIndex = max(segments[last].highestIndex, index)
    }

    private func rollOverIfFull() throws(StorageError) {
        guard activeBytes + pending.bytes.count >= options.segmentBytes else { return }
        // The old segment must be durable before the new one is used: `sync()` only syncs the active segment.
        try sync()
        let next = SegmentFile(sequence: segments[segments.count - 1].file.sequence + 1)
        let descriptor: (descriptor: Int32, bytes: Int)
        do {
            descriptor = try WriteAheadLog.createSegment(next, in: directory, hardState: hardState, options: options)
        } catch {
            throw fail(error)
        }
        Posix.close(activeDescriptor)
        activeDescriptor = descriptor.descriptor
        activeBytes = descriptor.bytes
        segments.append(Segment(file: next, highestIndex: .zero))
    }

    /// Creates a segment holding its header and `hardState`, durably (file and directory synced), and returns
    /// its descriptor positioned at the end.
    static func createSegment(
        _ file: SegmentFile, in directory: String, hardState: HardState, options: Options
    ) throws(StorageError) -> (descriptor: Int32, bytes: Int) {
        let io = options.io
        let path = directory + "/" + file.fileName
        var writer = ByteWriter(capacity: 64)
        RecordFrame.append(.segmentHeader, to: &writer) { file.encodeHeader(into: &$0) }
        RecordFrame.append(.hardState, to: &writer) { hardState.encode(into: &$0) }
        let descriptor: Int32
        do {
            descriptor = try Posix.open(path, O_WRONLY | O_CREAT | O_TRUNC)
        } catch {
            throw StorageError.systemCall(error, path: path)
        }
        do {
            if options.preallocate { try Preallocation.reserve(options.segmentBytes, for: descriptor) }
            try io.write(writer.bytes, to: descriptor)
            try io.synchronizeData(of: descriptor)
            try Posix.synchronizeDirectory(directory, io: io)
        } catch {
            Posix.close(descriptor)
            throw StorageError.systemCall(error, path: path)
        }
        return (descriptor, writer.bytes.count)
    }
}

extension SnapshotPoint {
    static let storageEncodingVersion: UInt8 = 1

    /// `version u8 = 1 | index u64 | term u64`
    func encode(into writer: inout ByteWriter) {
        writer.write(SnapshotPoint.storageEncodingVersion)
        writer.write(index.rawValue)
        writer.write(term.rawValue)
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> SnapshotPoint {
        let version = try reader.readByte("snapshot reset version")
        guard version == storageEncodingVersion else {
            throw .unsupportedVersion(what: "snapshot reset", version: version)
        }
        let index = try reader.readLogIndex("snapshot reset index")
        let term = Term(try reader.read(UInt64.self, "snapshot reset term"))
        try reader.expectEnd(of: "snapshot reset")
        return SnapshotPoint(index: index, term: term)
    }
}
