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
/// The next segment's file is made ahead of need, like etcd's file pipeline: a spare file
/// (`SegmentFile.spareFileName`), created and preallocated but holding no records. A rollover then only writes
/// the header and hard state into it, syncs it, renames it to the segment's name and syncs the directory; it
/// does not also wait for a file to be created and its blocks reserved. `open` prepares the first spare; after a
/// rollover has used it, the owner calls `prepareSpareSegment()` when it has nothing else to do (the node
/// storage does so when its fsync thread is idle). If no spare is ready when one is needed, the rollover creates
/// it itself, so the spare only ever saves time, never changes what is written.
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
        /// Whether to reserve each segment's blocks when its spare file is created (see `Preallocation`).
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
    /// The spare file for the next segment, created (and preallocated) but holding no records; -1 when there is
    /// none, because a rollover used it or preparing it failed.
    var spareDescriptor: Int32 = -1
    /// Set when preparing a spare failed, so that an owner that prepares one whenever it is idle does not retry in
    /// a loop (on a full disk, say). The next rollover tries again itself, and fails the log if it cannot.
    private var sparePreparationFailed = false
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

    /// Number of segment files, the active one included (the spare is not a segment).
    public var segmentCount: Int { segments.count }
    /// Whether `prepareSpareSegment()` has work to do: the log is usable, no spare is ready, and no attempt to
    /// prepare one has failed since the last rollover.
    public var needsSpareSegment: Bool { failure == nil && spareDescriptor < 0 && !sparePreparationFailed }
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

    // MARK: The spare segment

    /// Creates the spare file the next rollover will turn into a segment, unless one is ready. Call it when the
    /// owning thread is otherwise idle, so that creating the file and reserving its blocks delays no write.
    ///
    /// A failure does not stop the log, because the spare holds nothing; it only stops `needsSpareSegment` from
    /// asking again before the next rollover, which tries once more and fails the log if it cannot.
    /// - Throws: the failure that stopped the log, or why the spare could not be created (`.noSpace`, ...).
    public func prepareSpareSegment() throws(StorageError) {
        try checkUsable()
        guard spareDescriptor < 0 else { return }
        do {
            spareDescriptor = try WriteAheadLog.createSpare(in: directory, options: options)
        } catch {
            sparePreparationFailed = true
            throw error
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

    /// Closes the active segment without syncing. Idempotent. A spare stays on disk; the next `open` deletes it.
    public func close() {
        if spareDescriptor >= 0 {
            Posix.close(spareDescriptor)
            spareDescriptor = -1
        }
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
        // This also makes the hard state about to be copied into the new segment durable in the old one, so a
        // crash before the new segment is in place loses nothing.
        try sync()
        let next = SegmentFile(sequence: segments[segments.count - 1].file.sequence + 1)
        if spareDescriptor < 0 {
            // The owner was never idle since the last rollover (or preparing failed then): create the spare here,
            // on the write path, at the cost every rollover paid before spares existed.
            do { spareDescriptor = try WriteAheadLog.createSpare(in: directory, options: options) } catch {
                throw fail(error)
            }
        }
        let descriptor = spareDescriptor
        spareDescriptor = -1
        let startBytes: Int
        do {
            startBytes = try WriteAheadLog.installSpare(
                descriptor, as: next, in: directory, hardState: hardState, options: options)
        } catch {
            Posix.close(descriptor)
            throw fail(error)
        }
        Posix.close(activeDescriptor)
        activeDescriptor = descriptor
        activeBytes = startBytes
        segments.append(Segment(file: next, highestIndex: .zero))
        sparePreparationFailed = false
    }

    /// Creates the spare file, empty, with `segmentBytes` reserved when preallocating, and returns its descriptor.
    ///
    /// `O_TRUNC`, so a spare that somehow survived is never reused with old bytes in it. The directory is not
    /// synced: a crash that loses the new name loses nothing, and the rollover that renames the spare syncs the
    /// directory then.
    static func createSpare(in directory: String, options: Options) throws(StorageError) -> Int32 {
        let path = directory + "/" + SegmentFile.spareFileName
        let descriptor: Int32
        do {
            descriptor = try Posix.open(path, O_WRONLY | O_CREAT | O_TRUNC)
        } catch {
            throw StorageError.systemCall(error, path: path)
        }
        if options.preallocate {
            do {
                try Preallocation.reserve(options.segmentBytes, for: descriptor)
            } catch {
                Posix.close(descriptor)
                // Whatever part was reserved would only hold on to blocks that a full disk needs back.
                try? Posix.remove(path)
                throw StorageError.systemCall(error, path: path)
            }
        }
        return descriptor
    }

    /// Turns the spare into segment `file`: writes the segment header and a copy of `hardState`, fdatasyncs,
    /// renames the spare to the segment's name and fsyncs the directory. Leaves the descriptor at the end of what
    /// it wrote and returns how many bytes that is.
    ///
    /// The order is what makes a crash at any step recoverable. Until the rename, there is no new segment:
    /// recovery deletes the spare, and the previous segment, synced before, holds every acknowledged record and
    /// the same hard state. The data is synced before the rename, so a file under a segment's name always starts
    /// with a whole header and hard state. The directory is synced before anything is appended, so no record is
    /// ever acknowledged in a file whose name a crash could still take away.
    static func installSpare(
        _ descriptor: Int32, as file: SegmentFile, in directory: String, hardState: HardState, options: Options
    ) throws(StorageError) -> Int {
        let io = options.io
        let sparePath = directory + "/" + SegmentFile.spareFileName
        let path = directory + "/" + file.fileName
        var writer = ByteWriter(capacity: 64)
        RecordFrame.append(.segmentHeader, to: &writer) { file.encodeHeader(into: &$0) }
        RecordFrame.append(.hardState, to: &writer) { hardState.encode(into: &$0) }
        do {
            try io.write(writer.bytes, to: descriptor)
            try io.synchronizeData(of: descriptor)
        } catch {
            throw StorageError.systemCall(error, path: sparePath)
        }
        do {
            try Posix.rename(sparePath, path)
            try Posix.synchronizeDirectory(directory, io: io)
        } catch {
            throw StorageError.systemCall(error, path: path)
        }
        return writer.bytes.count
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
