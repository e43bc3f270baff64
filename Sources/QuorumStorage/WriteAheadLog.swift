import QuorumCodec
import QuorumConsensus

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The node's segmented write-ahead log, shared by every consensus group on the node: each record names its
/// group (`GroupRecordPrefix`), and one write and one fdatasync make the records of every group durable together.
///
/// Records (see `RecordFrame`) are appended to the newest segment; when it reaches `segmentBytes` it is synced
/// and closed and a new one starts with a header, a copy of every live group's current hard state and a
/// tombstone for every destroyed group, so releasing older segments never loses either. Appends collect in
/// memory until `flush()` hands them to the kernel in one write; `sync()` also fdatasyncs, which is what makes
/// them durable. That is group commit: a caller appends many batches, of many groups, and syncs once.
///
/// The next segment's file is made ahead of need, like etcd's file pipeline: a spare file
/// (`SegmentFile.spareFileName`), created and preallocated but holding no records. A rollover then only writes
/// the header and copies into it, syncs it, renames it to the segment's name and syncs the directory; it does not
/// also wait for a file to be created and its blocks reserved. `open` prepares the first spare; after a rollover
/// has used it, the owner calls `prepareSpareSegment()` when it has nothing else to do (the node storage does so
/// when its fsync thread is idle). If no spare is ready when one is needed, the rollover creates it itself, so the
/// spare only ever saves time, never changes what is written.
///
/// Truncation of a conflicting suffix needs no record of its own: an entry record at index i replaces every entry
/// of its group at or after i, exactly as `PersistBatch` asks.
///
/// Segments are released oldest first, once no live group needs anything in them (`releaseSegments`): each
/// segment remembers, per group, the highest index it holds, and each group says up to where its snapshots cover
/// its log. A group that lags (no snapshot for a long time) would hold every later segment back with the oldest,
/// so past `segmentCountLimit` segments its live records are rewritten into the active segment, as TiKV's
/// raft-engine does, and the oldest segment goes.
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
        /// Past this many segments, the groups holding back the oldest one have their live records rewritten into
        /// the active segment, so that one lagging group cannot keep the node's disk filling up.
        public var segmentCountLimit: Int
        /// Only a group with at most this many bytes of records in the segments it still needs is rewritten; a
        /// larger one is left for its snapshots to release. A quarter of `segmentBytes` unless given.
        public var rewriteBytesMax: Int
        public var io: any FileIO

        public init(
            segmentBytes: Int = 64 << 20, recordPayloadBytesMax: Int = 64 << 20, preallocate: Bool = true,
            segmentCountLimit: Int = 16, rewriteBytesMax: Int? = nil, io: any FileIO = PosixFileIO()
        ) {
            precondition(segmentBytes > 0 && recordPayloadBytesMax > 0, "sizes must be positive")
            precondition(segmentCountLimit >= 2, "the limit must leave room for the active segment and one more")
            self.segmentBytes = segmentBytes
            self.recordPayloadBytesMax = recordPayloadBytesMax
            self.preallocate = preallocate
            self.segmentCountLimit = segmentCountLimit
            self.rewriteBytesMax = rewriteBytesMax ?? segmentBytes / 4
            self.io = io
        }
    }

    struct Segment {
        let file: SegmentFile
        /// Each group with entries, snapshot resets or checkpoints in this segment. A destroyed group is removed:
        /// nothing of it is needed any more.
        var groups: [GroupID: GroupExtent] = [:]
    }

    /// What one group has in one segment.
    struct GroupExtent {
        /// The highest index its records there name.
        var highestIndex: LogIndex = .zero
        /// The bytes of those records (stale ones included): how much a rewrite of the group would copy, at most.
        var bytes = 0
    }

    /// What the log keeps in memory about one live group.
    struct GroupState {
        /// The newest hard state appended, copied to the start of each new segment.
        var hardState: HardState?
        /// The index of the last entry (or snapshot reset); nil when the log holds none of the group's entries.
        var lastIndex: LogIndex?
        /// Entries at or before this index are covered by the group's snapshots and no longer needed here.
        var releasedThrough: LogIndex = .zero
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
    /// Every live group the log holds records of (or was told about), keyed by group.
    private(set) var groups: [GroupID: GroupState]
    /// Groups destroyed on this node; their records are refused.
    public private(set) var tombstones: Set<GroupID>
    /// How many times a lagging group's live log was rewritten since the log was opened (for metrics and tests).
    public private(set) var groupRewrites = 0
    /// Set by the first failed write or sync; every later call throws it.
    private(set) var failure: StorageError?

    init(
        directory: String, options: Options, segments: [Segment], activeDescriptor: Int32, activeBytes: Int,
        groups: [GroupID: GroupState], tombstones: Set<GroupID>
    ) {
        precondition(!segments.isEmpty, "a write-ahead log always has an active segment")
        self.directory = directory
        self.options = options
        self.segments = segments
        self.activeDescriptor = activeDescriptor
        self.activeBytes = activeBytes
        self.groups = groups
        self.tombstones = tombstones
    }

    deinit { close() }

    /// Number of segment files, the active one included (the spare is not a segment).
    public var segmentCount: Int { segments.count }
    /// Whether `prepareSpareSegment()` has work to do: the log is usable, no spare is ready, and no attempt to
    /// prepare one has failed since the last rollover.
    public var needsSpareSegment: Bool { failure == nil && spareDescriptor < 0 && !sparePreparationFailed }
    var activePath: String { directory + "/" + segments[segments.count - 1].file.fileName }

    /// The index of the group's last entry (or snapshot reset) in the log; nil when the log holds none, for
    /// example after every segment with its entries was released.
    public func lastIndex(of group: GroupID) -> LogIndex? { groups[group]?.lastIndex }

    public func isTombstoned(_ group: GroupID) -> Bool { tombstones.contains(group) }

    // MARK: Appending

    /// Appends a group's entries; each replaces any of the group's stored entries at or after its index. Not
    /// durable until `sync()`.
    ///
    /// Precondition: `entries` are contiguous and start no later than right after the group's last index. A gap
    /// would make the log unrecoverable (recovery refuses it), so it is treated as the programming error it is.
    /// - Throws: `.recordTooLarge` (nothing appended), `.groupDestroyed`, or the failure that stopped the log.
    public func append(_ entries: [Entry], for group: GroupID) throws(StorageError) {
        try checkUsable(group)
        guard let first = entries.first else { return }
        for (earlier, later) in zip(entries, entries.dropFirst()) {
            precondition(
                later.index == earlier.index.advanced(by: 1),
                "entries \(earlier.index), \(later.index) of \(group) are not contiguous")
        }
        if let lastIndex = groups[group]?.lastIndex {
            precondition(
                first.index <= lastIndex.advanced(by: 1),
                "entry \(first.index) of \(group) would leave a gap after \(lastIndex)")
        }
        // Checked before anything is appended, so that a refused batch leaves no part of itself behind.
        if let oversized = entries.first(where: { $0.encodedBytes + 9 > options.recordPayloadBytesMax }) {
            throw StorageError(
                .recordTooLarge,
                "entry \(oversized.index) of \(group) encodes to \(oversized.encodedBytes) bytes, more than the "
                    + "maximum record size of \(options.recordPayloadBytesMax); raise recordPayloadBytesMax or "
                    + "propose smaller commands")
        }
        try appendEntryRecords(entries, for: group)
    }

    /// Appends a group's hard state; the newest one appended wins on recovery. Not durable until `sync()`.
    public func append(_ hardState: HardState, for group: GroupID) throws(StorageError) {
        try checkUsable(group)
        appendRecord(.hardState, for: group) { hardState.encode(into: &$0) }
        groups[group, default: GroupState()].hardState = hardState
        try rollOverIfFull()
    }

    /// Records that a snapshot from the leader replaced the group's log through `point`; the snapshot itself must
    /// already be durable in the group's snapshot store. Without `keepingLaterEntries` the whole log is replaced and
    /// entries appended afterwards start right after `point`; with it, stored entries after `point` stay.
    public func appendSnapshotReset(
        _ point: SnapshotPoint, keepingLaterEntries: Bool = false, for group: GroupID
    ) throws(StorageError) {
        try checkUsable(group)
        let type: RecordType = keepingLaterEntries ? .snapshotResetKeepingLaterEntries : .snapshotReset
        let bytes = appendRecord(type, for: group) { point.encode(into: &$0) }
        noteIndex(point.index, of: group, recordBytes: bytes)
        let kept = keepingLaterEntries ? groups[group]?.lastIndex.flatMap { $0 > point.index ? $0 : nil } : nil
        groups[group, default: GroupState()].lastIndex = kept ?? point.index
        try rollOverIfFull()
    }

    /// Records that the group was destroyed on this node. From here on its records are refused, and nothing of it
    /// holds back a segment. Not durable until `sync()`. Destroying a destroyed group does nothing.
    public func appendTombstone(for group: GroupID) throws(StorageError) {
        try checkUsable()
        guard !tombstones.contains(group) else { return }
        appendRecord(.groupTombstone, for: group) { _ in }
        tombstones.insert(group)
        groups[group] = nil
        for position in segments.indices { segments[position].groups[group] = nil }
        try rollOverIfFull()
    }

    /// Records that a destroyed group was deliberately created again, with an empty log. Not durable until
    /// `sync()`; until then a crash leaves it destroyed, and every later record of it is lost with this one.
    public func appendRevival(for group: GroupID) throws(StorageError) {
        try checkUsable()
        guard tombstones.contains(group) else { return }
        appendRecord(.groupRevival, for: group) { _ in }
        tombstones.remove(group)
        groups[group] = GroupState()
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

    /// Makes everything appended durable: one write, one fdatasync, whatever groups the records belong to.
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

    // MARK: Releasing segments

    /// Tells the log that the group's snapshots cover its entries through `index` (never moves back), then
    /// releases what no group needs any more (see `releaseSegments()`).
    /// - Returns: how many segments were removed.
    @discardableResult
    public func releaseSegments(of group: GroupID, through index: LogIndex) throws(StorageError) -> Int {
        try checkUsable()
        setReleasePoint(of: group, through: index)
        return try releaseSegments()
    }

    /// Tells the log that the group's snapshots cover its entries through `index` (never moves back); segments
    /// are released by the next `releaseSegments()`.
    public func setReleasePoint(of group: GroupID, through index: LogIndex) {
        guard !tombstones.contains(group) else { return }
        var state = groups[group] ?? GroupState()
        state.releasedThrough = max(state.releasedThrough, index)
        groups[group] = state
    }

    /// Removes whole segments, oldest first, while no live group needs anything in them: every index a group
    /// has in them is covered by its snapshots, or the group was destroyed. The active segment is never removed.
    ///
    /// Then, while there are more than `segmentCountLimit` segments, the groups holding back the oldest one (each
    /// with at most `rewriteBytesMax` bytes of records it still needs: a lagging group, not a large one) have
    /// their live records (the entries their snapshots do not cover, a snapshot reset they still rely on, and
    /// their hard state) rewritten into the active segment and synced, after which the oldest segment is
    /// removed. The rewrite reads the group's records back from the segments that hold any, so it costs reading
    /// those; it happens only when a group held the oldest segment for `segmentCountLimit` segments.
    /// - Returns: how many segments were removed.
    @discardableResult
    public func releaseSegments() throws(StorageError) -> Int {
        try checkUsable()
        var removed = try removeUnneededSegments()
        var rewritten: Set<GroupID> = []
        while segments.count > options.segmentCountLimit {
            // A group with more live records than `rewriteBytesMax` is not lagging but large: rewriting it would copy
            // much to free little, and it would soon hold back the oldest segment again. Its snapshots release it.
            let holders = groupsNeeding(segments[0]).filter { group in
                !rewritten.contains(group) && liveBytesAtMost(of: group) <= options.rewriteBytesMax
            }
            guard !holders.isEmpty else { break }
            var anyRewritten = false
            for group in holders {
                if try rewriteLiveRecords(of: group) { anyRewritten = true }
                rewritten.insert(group)
            }
            guard anyRewritten else { break }
            // The rewritten records must be durable before the only other copy of them goes.
            try sync()
            removed += try removeUnneededSegments()
        }
        return removed
    }

    /// The bytes of the group's records in the segments it still needs: at least what a rewrite of it copies.
    private func liveBytesAtMost(of group: GroupID) -> Int {
        guard let state = groups[group] else { return 0 }
        return segments.reduce(0) { total, segment in
            guard let extent = segment.groups[group], extent.highestIndex > state.releasedThrough else { return total }
            return total + extent.bytes
        }
    }

    private func groupsNeeding(_ segment: Segment) -> [GroupID] {
        segment.groups.compactMap { group, extent in
            guard let state = groups[group], extent.highestIndex > state.releasedThrough else { return nil }
            return group
        }.sorted()
    }

    private func removeUnneededSegments() throws(StorageError) -> Int {
        var removed = 0
        while segments.count > 1, groupsNeeding(segments[0]).isEmpty {
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

    /// Appends the group's live log again, as one checkpoint record, so that no segment before the active one is
    /// needed by it.
    ///
    /// Recovery replays a group's records in order and an entry replaces everything at or after its index, so the
    /// rewrite must hold the group's whole live log, not only what the oldest segment has, and must land whole
    /// (see `GroupCheckpoint`). A group whose live log does not fit in one record is left where it is.
    /// - Returns: whether the group was rewritten.
    private func rewriteLiveRecords(of group: GroupID) throws(StorageError) -> Bool {
        guard let state = groups[group] else { return false }
        try flush()
        let holding = segments.filter { $0.groups[group] != nil }
        let replay = try Self.replay(group, in: holding.map(\.file), directory: directory, options: options)
        let live = replay.entries.filter { $0.index > state.releasedThrough }
        // The reset stays only while the live entries start right after it; otherwise its snapshot is covered.
        let reset = replay.snapshotReset.flatMap { $0.index >= state.releasedThrough ? $0 : nil }
        let checkpoint = GroupCheckpoint(snapshotReset: reset, entries: live, hardState: state.hardState)
        var encoded = ByteWriter(capacity: 64 + live.reduce(0) { $0 + $1.encodedBytes })
        GroupRecordPrefix.encode(group, into: &encoded)
        checkpoint.encode(into: &encoded)
        guard encoded.bytes.count <= options.recordPayloadBytesMax else { return false }
        let firstKept = segments[segments.count - 1].file.sequence
        let start = pending.bytes.count
        RecordFrame.append(.groupCheckpoint, to: &pending) { $0.write(contentsOf: encoded.bytes) }
        // The checkpoint supersedes every earlier record of the group, in this segment too: its extent here is the
        // checkpoint's alone, so that repeated rewrites do not make the group look large.
        segments[segments.count - 1].groups[group] = checkpoint.highestIndex.map {
            GroupExtent(highestIndex: $0, bytes: pending.bytes.count - start)
        }
        for position in segments.indices where segments[position].file.sequence < firstKept {
            segments[position].groups[group] = nil
        }
        groupRewrites += 1
        try rollOverIfFull()
        return true
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

    private func checkUsable(_ group: GroupID) throws(StorageError) {
        try checkUsable()
        if tombstones.contains(group) {
            throw StorageError(
                .groupDestroyed, path: directory,
                "\(group) was destroyed on this node (its tombstone is in \(directory)); its records are refused")
        }
    }

    /// - Returns: the bytes the record takes, frame included.
    @discardableResult
    private func appendRecord(_ type: RecordType, for group: GroupID, body: (inout ByteWriter) -> Void) -> Int {
        let start = pending.bytes.count
        RecordFrame.append(type, to: &pending) { writer in
            GroupRecordPrefix.encode(group, into: &writer)
            body(&writer)
        }
        return pending.bytes.count - start
    }

    private func appendEntryRecords(_ entries: [Entry], for group: GroupID) throws(StorageError) {
        for entry in entries {
            let bytes = appendRecord(.entry, for: group) { entry.encode(into: &$0) }
            noteIndex(entry.index, of: group, recordBytes: bytes)
            groups[group, default: GroupState()].lastIndex = entry.index
            try rollOverIfFull()
        }
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

    private func noteIndex(_ index: LogIndex, of group: GroupID, recordBytes: Int) {
        let last = segments.count - 1
        var extent = segments[last].groups[group] ?? GroupExtent()
        extent.highestIndex = max(extent.highestIndex, index)
        extent.bytes += recordBytes
        segments[last].groups[group] = extent
    }

    private func rollOverIfFull() throws(StorageError) {
        guard activeBytes + pending.bytes.count >= options.segmentBytes else { return }
        // The old segment must be durable before the new one is used: `sync()` only syncs the active segment.
        // This also makes the hard states and tombstones about to be copied into the new segment durable in the
        // old one, so a crash before the new segment is in place loses nothing.
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
                descriptor, as: next, in: directory, groups: groups, tombstones: tombstones, options: options)
        } catch {
            Posix.close(descriptor)
            throw fail(error)
        }
        Posix.close(activeDescriptor)
        activeDescriptor = descriptor
        activeBytes = startBytes
        segments.append(Segment(file: next))
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

    /// Turns the spare into segment `file`: writes the segment header, a tombstone for every destroyed group and
    /// a copy of every live group's hard state, fdatasyncs, renames the spare to the segment's name and fsyncs the
    /// directory. Leaves the descriptor at the end of what it wrote and returns how many bytes that is.
    ///
    /// The copies cost a few dozen bytes per group per segment (well under 1% of a 64 MiB segment for ten
    /// thousand groups); they are what lets a segment go without a group's only hard state or tombstone in it.
    ///
    /// The order is what makes a crash at any step recoverable. Until the rename, there is no new segment:
    /// recovery deletes the spare, and the previous segment, synced before, holds every acknowledged record and
    /// the same hard states. The data is synced before the rename, so a file under a segment's name always starts
    /// with a whole header and hard state. The directory is synced before anything is appended, so no record is
    /// ever acknowledged in a file whose name a crash could still take away.
    static func installSpare(
        _ descriptor: Int32, as file: SegmentFile, in directory: String, groups: [GroupID: GroupState],
        tombstones: Set<GroupID>, options: Options
    ) throws(StorageError) -> Int {
        let io = options.io
        let sparePath = directory + "/" + SegmentFile.spareFileName
        let path = directory + "/" + file.fileName
        var writer = ByteWriter(capacity: 64 + 48 * (groups.count + tombstones.count))
        RecordFrame.append(.segmentHeader, to: &writer) { file.encodeHeader(into: &$0) }
        for group in tombstones.sorted() {
            RecordFrame.append(.groupTombstone, to: &writer) { GroupRecordPrefix.encode(group, into: &$0) }
        }
        for (group, state) in groups.sorted(by: { $0.key < $1.key }) {
            guard let hardState = state.hardState else { continue }
            RecordFrame.append(.hardState, to: &writer) { writer in
                GroupRecordPrefix.encode(group, into: &writer)
                hardState.encode(into: &writer)
            }
        }
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

    /// Decodes one point; the caller checks what follows (the end of a record, or the rest of a checkpoint).
    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> SnapshotPoint {
        let version = try reader.readByte("snapshot reset version")
        guard version == storageEncodingVersion else {
            throw .unsupportedVersion(what: "snapshot reset", version: version)
        }
        let index = try reader.readLogIndex("snapshot reset index")
        let term = Term(try reader.read(UInt64.self, "snapshot reset term"))
        return SnapshotPoint(index: index, term: term)
    }
}
