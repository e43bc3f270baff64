import QuorumCodec
import QuorumConsensus

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What reading the node's write-ahead log found.
public struct WriteAheadLogRecovery: Sendable {
    /// Every live group the log holds records of; a destroyed group is not among them.
    public var groups: [GroupID: GroupLogRecovery]
    /// Groups destroyed on this node.
    public var tombstones: Set<GroupID>
    /// A torn write cut off at the end of the last segment, if there was one.
    public var tornTail: TornTail?
    public var segmentCount: Int

    /// What the log holds of `group`: empty if it holds nothing of it.
    public func group(_ group: GroupID) -> GroupLogRecovery { groups[group] ?? GroupLogRecovery() }
}

/// What the write-ahead log holds of one group.
public struct GroupLogRecovery: Hashable, Sendable {
    /// The newest hard state recorded; nil only for a group that never wrote one.
    public var hardState: HardState?
    /// The group's entries, contiguous, as the records left them (not yet trimmed to a snapshot).
    public var entries: [Entry] = []
    /// The newest leader snapshot that replaced the group's log, if its record is still in the log.
    public var snapshotReset: SnapshotPoint?

    init(hardState: HardState? = nil, entries: [Entry] = [], snapshotReset: SnapshotPoint? = nil) {
        self.hardState = hardState
        self.entries = entries
        self.snapshotReset = snapshotReset
    }

    init(_ replay: LogReplay) {
        self.init(hardState: replay.hardState, entries: replay.entries, snapshotReset: replay.snapshotReset)
    }
}

/// An incomplete or checksum-failing record at the very end of the log: the write that was in progress when the
/// node stopped. It was never acknowledged as durable, so it is dropped.
public struct TornTail: Hashable, Sendable, CustomStringConvertible {
    public var path: String
    /// Where the torn record started; the segment was truncated to this length.
    public var offset: Int
    public var droppedBytes: Int
    public var reason: String

    public var description: String {
        "dropped \(droppedBytes) bytes of a torn write at offset \(offset) of \(path) (\(reason))"
    }
}

extension WriteAheadLog {
    /// Opens the log in `directory` (creating its first segment if there is none), verifying every record.
    ///
    /// - A record that is incomplete or fails its checksum at the end of the last segment, with no valid record
    ///   after it, is a torn write: the segment is truncated before it and `tornTail` reports the bytes dropped.
    /// - Any other bad record, a segment missing between two others, a record whose content contradicts the log
    ///   (a gap in a group's indexes, a record of a destroyed group), or a record that names its group in a
    ///   layout this build does not know is corruption: opening fails with `.corruption`/`.missingData` naming
    ///   the file and offset, because dropping it could silently lose committed entries.
    /// - A spare segment file left by the previous run is deleted: it was never renamed to a segment's name, so
    ///   nothing in it was ever acknowledged, and its hard state copies may be older than the log's newest. A new
    ///   spare is then prepared, so that the first rollover does not have to.
    public static func open(
        directory: String, options: Options = Options()
    ) throws(StorageError) -> (WriteAheadLog, WriteAheadLogRecovery) {
        let names: [String]
        do {
            try Posix.makeDirectory(directory)
            names = try Posix.listDirectory(directory)
        } catch {
            throw StorageError.systemCall(error, path: directory)
        }
        let files = names.compactMap(SegmentFile.init(fileName:)).sorted()
        for (earlier, later) in zip(files, files.dropFirst()) where later.sequence != earlier.sequence + 1 {
            let missing = SegmentFile(sequence: earlier.sequence + 1).fileName
            throw StorageError(
                .missingData, path: directory + "/" + missing,
                "write-ahead log segment \(directory)/\(missing) is missing between \(earlier.fileName) and "
                    + "\(later.fileName); the log cannot be trusted, restore the directory from a backup or "
                    + "replace this node")
        }

        var replay = NodeReplay(only: nil)
        var segments: [Segment] = []
        var tornTail: TornTail?
        var lastValidBytes = 0
        for (position, file) in files.enumerated() {
            let path = directory + "/" + file.fileName
            let scan = try scanSegment(
                file, path: path, isLast: position == files.count - 1, into: &replay,
                payloadBytesMax: options.recordPayloadBytesMax)
            // A tombstone or checkpoint met in this segment frees the group's records in earlier segments.
            for group in scan.superseding {
                for earlier in segments.indices { segments[earlier].groups[group] = nil }
            }
            segments.append(Segment(file: file, groups: scan.groups))
            tornTail = scan.tornTail
            lastValidBytes = scan.validBytes
        }

        // Only after the segments were accepted: a directory recovery refuses is left exactly as it was found.
        // Not synced: if a crash brings the spare back, the next recovery deletes it again.
        if names.contains(SegmentFile.spareFileName) {
            let sparePath = directory + "/" + SegmentFile.spareFileName
            do { try Posix.remove(sparePath) } catch { throw StorageError.systemCall(error, path: sparePath) }
        }

        var groups: [GroupID: GroupState] = [:]
        for (group, groupReplay) in replay.groups {
            groups[group] = GroupState(
                hardState: groupReplay.hardState,
                lastIndex: groupReplay.entries.last?.index ?? groupReplay.snapshotReset?.index)
        }
        let descriptor: Int32
        let activeBytes: Int
        if let last = segments.last, lastValidBytes > 0 {
            let path = directory + "/" + last.file.fileName
            do {
                descriptor = try Posix.open(path, O_WRONLY)
                if tornTail != nil {
                    try Posix.truncate(descriptor, to: lastValidBytes)
                    try options.io.synchronizeData(of: descriptor)
                }
                activeBytes = try Posix.seekToEnd(descriptor)
            } catch {
                throw StorageError.systemCall(error, path: path)
            }
        } else {
            // No segment yet, or the last one was torn before its header was complete: (re)write it the way a
            // rollover writes a segment, which replaces a torn one in a single rename.
            let file = segments.last?.file ?? SegmentFile(sequence: 0)
            descriptor = try createSpare(in: directory, options: options)
            do {
                activeBytes = try installSpare(
                    descriptor, as: file, in: directory, groups: groups, tombstones: replay.tombstones,
                    options: options)
            } catch {
                Posix.close(descriptor)
                throw error
            }
            if segments.isEmpty { segments.append(Segment(file: file)) }
        }
        let log = WriteAheadLog(
            directory: directory, options: options, segments: segments, activeDescriptor: descriptor,
            activeBytes: activeBytes, groups: groups, tombstones: replay.tombstones)
        let recovery = WriteAheadLogRecovery(
            groups: replay.groups.mapValues(GroupLogRecovery.init), tombstones: replay.tombstones,
            tornTail: tornTail, segmentCount: segments.count)
        // A spare that cannot be made now (a full disk) is no reason to refuse a log that recovered: the first
        // rollover tries again, and fails the log if it still cannot.
        try? log.prepareSpareSegment()
        return (log, recovery)
    }

    /// Reads one group's records back from `files` (which must hold every segment with any of its entries or
    /// snapshot resets), for rewriting them. The files were verified when the log was opened and written by this
    /// process since, so a bad record here is corruption wherever it is.
    static func replay(
        _ group: GroupID, in files: [SegmentFile], directory: String, options: Options
    ) throws(StorageError) -> GroupLogRecovery {
        var replay = NodeReplay(only: group)
        for file in files {
            _ = try scanSegment(
                file, path: directory + "/" + file.fileName, isLast: false, into: &replay,
                payloadBytesMax: options.recordPayloadBytesMax)
        }
        return replay.groups[group].map(GroupLogRecovery.init) ?? GroupLogRecovery()
    }

    /// Every group's replay, and the tombstones, as the records so far leave them.
    struct NodeReplay {
        /// When set, records of every other group are skipped (checksums are still verified).
        let only: GroupID?
        var groups: [GroupID: LogReplay] = [:]
        var tombstones: Set<GroupID> = []

        /// Applies one group record; returns the index it names (entries and snapshot resets), if any.
        mutating func apply(
            _ type: RecordType, of group: GroupID, _ reader: inout ByteReader
        ) throws(DecodingFailure) -> LogIndex? {
            switch type {
            case .segmentHeader, .snapshot:
                throw DecodingFailure.inconsistent("unexpected \(type) record inside a segment")
            case .groupTombstone:
                groups[group] = nil
                tombstones.insert(group)
                return nil
            case .groupRevival:
                guard tombstones.remove(group) != nil else {
                    throw DecodingFailure.inconsistent("revival of \(group), which was not destroyed")
                }
                groups[group] = LogReplay()
                return nil
            case .entry, .hardState, .snapshotReset, .snapshotResetKeepingLaterEntries, .groupCheckpoint:
                guard !tombstones.contains(group) else {
                    throw DecodingFailure.inconsistent("\(type) record of \(group) after its tombstone")
                }
            }
            switch type {
            case .entry:
                let entry = try Entry.decode(from: &reader)
                if let refusal = groups[group, default: LogReplay()].append(entry) {
                    throw DecodingFailure.inconsistent("\(group): \(refusal)")
                }
                return entry.index
            case .hardState:
                groups[group, default: LogReplay()].hardState = try HardState.decode(from: &reader)
                return nil
            case .groupCheckpoint:
                let checkpoint = try GroupCheckpoint.decode(from: &reader)
                groups[group, default: LogReplay()].replace(with: checkpoint)
                return checkpoint.highestIndex
            default:
                let point = try SnapshotPoint.decode(from: &reader)
                groups[group, default: LogReplay()].reset(
                    to: point, keepingLaterEntries: type == .snapshotResetKeepingLaterEntries)
                return point.index
            }
        }
    }

    private struct SegmentScan {
        var groups: [GroupID: GroupExtent] = [:]
        /// Groups whose tombstone or checkpoint is in this segment: nothing of them in earlier segments is needed.
        var superseding: Set<GroupID> = []
        var validBytes = 0
        var tornTail: TornTail?
    }

    private static func scanSegment(
        _ file: SegmentFile, path: String, isLast: Bool, into replay: inout NodeReplay, payloadBytesMax: Int
    ) throws(StorageError) -> SegmentScan {
        let bytes: [UInt8]
        do { bytes = try Posix.readFile(path) } catch { throw StorageError.systemCall(error, path: path) }
        var scan = SegmentScan()
        var offset = 0
        while offset < bytes.count {
            let parsed = RecordFrame.parse(bytes, at: offset, end: bytes.count, payloadBytesMax: payloadBytesMax)
            guard case .record(let type, let payload, let next) = parsed else {
                let reason: String
                switch parsed {
                case .incomplete(let why), .invalid(let why): reason = why
                case .record: reason = ""
                }
                if isLast && !containsValidRecord(bytes, after: offset, payloadBytesMax: payloadBytesMax) {
                    scan.tornTail = TornTail(
                        path: path, offset: offset, droppedBytes: bytes.count - offset, reason: reason)
                    break
                }
                throw corruption(path: path, offset: offset, reason)
            }
            // A record whose checksum matches was written exactly so; if it does not make sense, that is a bug
            // or a foreign file, never a torn write.
            var reader = ByteReader(bytes, range: payload)
            do {
                if offset == 0 {
                    guard type == .segmentHeader else {
                        throw DecodingFailure.inconsistent("the segment does not start with a header record")
                    }
                    try file.validateHeader(&reader)
                } else if type == .segmentHeader || type == .snapshot {
                    throw DecodingFailure.inconsistent("unexpected \(type) record inside a segment")
                } else {
                    let group = try GroupRecordPrefix.decode(from: &reader)
                    if replay.only == nil || replay.only == group {
                        if type == .groupCheckpoint {
                            // A checkpoint supersedes the group's earlier records, here and in earlier segments.
                            scan.groups[group] = nil
                            scan.superseding.insert(group)
                        }
                        if let index = try replay.apply(type, of: group, &reader) {
                            var extent = scan.groups[group] ?? GroupExtent()
                            extent.highestIndex = max(extent.highestIndex, index)
                            extent.bytes += next - offset
                            scan.groups[group] = extent
                        }
                        if type == .groupTombstone {
                            scan.groups[group] = nil
                            scan.superseding.insert(group)
                        }
                        try reader.expectEnd(of: "\(type) record")
                    }
                }
            } catch {
                throw corruption(path: path, offset: offset, "\(type) record does not decode: \(error)")
            }
            offset = next
        }
        scan.validBytes = offset
        return scan
    }

    /// Whether a whole, checksum-valid record starts anywhere after `offset`. A bad record followed by a good
    /// one cannot be a torn final write, so it is corruption. Records are not aligned, so every byte is tried;
    /// this runs only on the failure path.
    private static func containsValidRecord(_ bytes: [UInt8], after offset: Int, payloadBytesMax: Int) -> Bool {
        var candidate = offset + 1
        while candidate + RecordFrame.headerBytes <= bytes.count {
            let parsed = RecordFrame.parse(bytes, at: candidate, end: bytes.count, payloadBytesMax: payloadBytesMax)
            if case .record = parsed { return true }
            candidate += 1
        }
        return false
    }

    private static func corruption(path: String, offset: Int, _ reason: String) -> StorageError {
        StorageError(
            .corruption, path: path, offset: offset,
            "write-ahead log corrupt at offset \(offset) of \(path): \(reason); refusing to start rather than "
                + "lose committed entries; restore the directory from a backup or replace this node")
    }
}
