import QuorumCodec
import QuorumConsensus

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Snapshot files, one per snapshot, named `snapshot-<index>-<term>.snap` (16 hex digits each) so that the newest
/// sorts last. Each file is one framed, checksummed record (`RecordFrame`, type `.snapshot`).
///
/// A snapshot is written to `<name>.tmp`, fsynced, renamed into place and the directory fsynced: a crash leaves
/// either the old set of snapshots or the new one, never half a file under a real name. Leftover `.tmp` files
/// are removed on open. A damaged snapshot can be set aside (`<name>.damaged`) to keep it for inspection.
///
/// Not thread-safe: one thread owns it.
public final class SnapshotStore {
    /// A snapshot file's identity, from its name.
    public struct File: Hashable, Sendable, Comparable {
        public var point: SnapshotPoint
        public var path: String

        public static func < (lhs: File, rhs: File) -> Bool {
            (lhs.point.index, lhs.point.term) < (rhs.point.index, rhs.point.term)
        }
    }

    public let directory: String
    let io: any FileIO

    public init(directory: String, io: any FileIO = PosixFileIO()) throws(StorageError) {
        self.directory = directory
        self.io = io
        do {
            try Posix.makeDirectory(directory)
            for name in try Posix.listDirectory(directory) where name.hasSuffix(".snap.tmp") {
                try Posix.remove(directory + "/" + name)
            }
        } catch {
            throw StorageError.systemCall(error, path: directory)
        }
    }

    /// Writes `snapshot` durably (temp file, fsync, rename, directory fsync) and returns its file.
    @discardableResult
    public func save(_ snapshot: Snapshot) throws(StorageError) -> File {
        let point = SnapshotPoint(index: snapshot.lastIncludedIndex, term: snapshot.lastIncludedTerm)
        let path = directory + "/" + SnapshotStore.fileName(for: point)
        do {
            try Posix.writeFileAtomically(SnapshotStore.encodeFile(snapshot), to: path, directory: directory, io: io)
        } catch {
            throw StorageError.systemCall(error, path: path)
        }
        return File(point: point, path: path)
    }

    /// Snapshot files present, newest first. Files are not read.
    public func files() throws(StorageError) -> [File] {
        let names: [String]
        do { names = try Posix.listDirectory(directory) } catch {
            throw StorageError.systemCall(error, path: directory)
        }
        return names.compactMap { name in
            SnapshotStore.point(fromFileName: name).map { File(point: $0, path: directory + "/" + name) }
        }.sorted(by: >)
    }

    /// Reads and verifies one snapshot file.
    /// - Throws: `.corruption` naming the file if it does not verify or does not match its name.
    public func load(_ file: File) throws(StorageError) -> Snapshot {
        let bytes: [UInt8]
        do { bytes = try Posix.readFile(file.path) } catch { throw StorageError.systemCall(error, path: file.path) }
        let snapshot: Snapshot
        do {
            snapshot = try SnapshotStore.decodeFile(bytes)
        } catch {
            throw StorageError(.corruption, path: file.path, offset: 0, "snapshot \(file.path) is damaged: \(error)")
        }
        guard snapshot.lastIncludedIndex == file.point.index, snapshot.lastIncludedTerm == file.point.term else {
            throw StorageError(
                .corruption, path: file.path, offset: 0,
                "snapshot \(file.path) is damaged: it holds \(snapshot.lastIncludedIndex)@\(snapshot.lastIncludedTerm), "
                    + "not what its name says")
        }
        return snapshot
    }

    /// Verifies and decodes the bytes of a snapshot file, as read from disk or received in chunks from a leader
    /// (see `SnapshotReader`).
    public static func decodeFile(_ bytes: [UInt8]) throws(SnapshotDecodingError) -> Snapshot {
        let parsed = RecordFrame.parse(bytes, at: 0, end: bytes.count, payloadBytesMax: bytes.count)
        guard case .record(let type, let payload, let next) = parsed else {
            switch parsed {
            case .incomplete(let reason), .invalid(let reason): throw SnapshotDecodingError(reason: reason)
            case .record: throw SnapshotDecodingError(reason: "unreachable")
            }
        }
        guard type == .snapshot, next == bytes.count else {
            throw SnapshotDecodingError(reason: "not a single snapshot record")
        }
        var reader = ByteReader(bytes, range: payload)
        do {
            let snapshot = try Snapshot.decode(from: &reader)
            try reader.expectEnd(of: "snapshot")
            return snapshot
        } catch {
            throw SnapshotDecodingError(reason: "\(error)")
        }
    }

    /// Encodes a snapshot as a snapshot file's bytes (what `save` writes and `decodeFile` reads).
    public static func encodeFile(_ snapshot: Snapshot) -> [UInt8] {
        var writer = ByteWriter(capacity: snapshot.data.count + 128)
        RecordFrame.append(.snapshot, to: &writer) { snapshot.encode(into: &$0) }
        return writer.bytes
    }

    /// Renames a damaged snapshot to `<name>.damaged` so it is kept for inspection but never loaded again.
    public func setAside(_ file: File) throws(StorageError) {
        do {
            try Posix.rename(file.path, file.path + ".damaged")
            try Posix.synchronizeDirectory(directory, io: io)
        } catch {
            throw StorageError.systemCall(error, path: file.path)
        }
    }

    /// Removes snapshot files older than `file`.
    public func removeOlder(than file: File) throws(StorageError) {
        var removed = false
        for older in try files() where older < file {
            do { try Posix.remove(older.path) } catch { throw StorageError.systemCall(error, path: older.path) }
            removed = true
        }
        if removed {
            do { try Posix.synchronizeDirectory(directory, io: io) } catch {
                throw StorageError.systemCall(error, path: directory)
            }
        }
    }

    static func fileName(for point: SnapshotPoint) -> String {
        "snapshot-\(hex16(point.index.rawValue))-\(hex16(point.term.rawValue)).snap"
    }

    static func point(fromFileName name: String) -> SnapshotPoint? {
        guard name.hasPrefix("snapshot-"), name.hasSuffix(".snap") else { return nil }
        let parts = name.dropFirst("snapshot-".count).dropLast(".snap".count).split(separator: "-")
        guard parts.count == 2, parts.allSatisfy({ $0.count == 16 }),
            let index = UInt64(parts[0], radix: 16), let term = UInt64(parts[1], radix: 16)
        else { return nil }
        return SnapshotPoint(index: LogIndex(index), term: Term(term))
    }

    private static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// Why snapshot bytes did not verify or decode.
public struct SnapshotDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
