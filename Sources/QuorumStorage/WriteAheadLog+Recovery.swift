import QuorumCodec
import QuorumConsensus

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What reading the write-ahead log found.
public struct WriteAheadLogRecovery: Sendable {
    /// The newest hard state recorded; nil only for a log that never held one.
    public var hardState: HardState?
    /// The log's entries, contiguous, as the records left them (not yet trimmed to a snapshot).
    public var entries: [Entry]
    /// The newest leader snapshot that replaced the log, if its record is still in the log.
    public var snapshotReset: SnapshotPoint?
    /// A torn write cut off at the end of the last segment, if there was one.
    public var tornTail: TornTail?
    public var segmentCount: Int
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
    /// - Any other bad record, a segment missing between two others, or a record whose content contradicts the
    ///   log (a gap in indexes) is corruption: opening fails with `.corruption`/`.missingData` naming the file
    ///   and offset, because dropping it could silently lose committed entries.
    /// - A spare segment file left by the previous run is deleted: it was never renamed to a segment's name, so
    ///   nothing in it was ever acknowledged, and its hard state copy may be older than the log's newest. A new
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

        var replay = LogReplay()
        var segments: [Segment] = []
        var tornTail: TornTail?
        var lastValidBytes = 0
        for (position, file) in files.enumerated() {
            let path = directory + "/" + file.fileName
            let scan = try scanSegment(
                file, path: path, isLast: position == files.count - 1, into: &replay,
                payloadBytesMax: options.recordPayloadBytesMax)
            segments.append(Segment(file: file, highestIndex: scan.highestIndex))
            tornTail = scan.tornTail
            lastValidBytes = scan.validBytes
        }

        // Only after the segments were accepted: a directory recovery refuses is left exactly as it was found.
        // Not synced: if a crash brings the spare back, the next recovery deletes it again.
        if names.contains(SegmentFile.spareFileName) {
            let sparePath = directory + "/" + SegmentFile.spareFileName
            do { try Posix.remove(sparePath) } catch { throw StorageError.systemCall(error, path: sparePath) }
        }

        let hardState = replay.hardState ?? HardState()
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
                    descriptor, as: file, in: directory, hardState: hardState, options: options)
            } catch {
                Posix.close(descriptor)
                throw error
            }
            if segments.isEmpty { segments.append(Segment(file: file, highestIndex: .zero)) }
        }
        let log = WriteAheadLog(
            directory: directory, options: options, segments: segments, activeDescriptor: descriptor,
            activeBytes: activeBytes, hardState: hardState,
            lastIndex: replay.entries.last?.index ?? replay.snapshotReset?.index)
        let recovery = WriteAheadLogRecovery(
            hardState: replay.hardState, entries: replay.entries, snapshotReset: replay.snapshotReset,
            tornTail: tornTail, segmentCount: segments.count)
        // A spare that cannot be made now (a full disk) is no reason to refuse a log that recovered: the first
        // rollover tries again, and fails the log if it still cannot.
        try? log.prepareSpareSegment()
        return (log, recovery)
    }

    private struct SegmentScan {
        var highestIndex: LogIndex = .zero
        var validBytes = 0
        var tornTail: TornTail?
    }

    private static func scanSegment(
        _ file: SegmentFile, path: String, isLast: Bool, into replay: inout LogReplay, payloadBytesMax: Int
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
                } else {
                    switch type {
                    case .segmentHeader, .snapshot:
                        throw DecodingFailure.inconsistent("unexpected \(type) record inside a segment")
                    case .entry:
                        let entry = try Entry.decode(from: &reader)
                        if let refusal = replay.append(entry) { throw DecodingFailure.inconsistent(refusal) }
                        scan.highestIndex = max(scan.highestIndex, entry.index)
                    case .hardState:
                        replay.hardState = try HardState.decode(from: &reader)
                    case .snapshotReset:
                        let point = try SnapshotPoint.decode(from: &reader)
                        replay.reset(to: point)
                        scan.highestIndex = max(scan.highestIndex, point.index)
                    }
                    try reader.expectEnd(of: "\(type) record")
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
