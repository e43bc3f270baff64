import QuorumConsensus
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A node's data directory, opened exclusively; every consensus group on the node shares it:
///
///     <path>/VERSION                      the format version, "2\n"
///     <path>/LOCK                         flock(2)ed while a process uses the directory
///     <path>/CLUSTER                      which cluster and node the data belongs to (written by the server)
///     <path>/wal/                         the node's one write-ahead log: segments of every group's records
///     <path>/groups/<id>/snapshots/       each group's snapshot files
///
/// Format 1, written by earlier builds, kept one such directory per group (`<data dir>/group-<id>/`, each with
/// its own VERSION, log and snapshots). It is refused, not converted: its groups' logs would have to be merged
/// into one, and a node can instead be re-added to its cluster on a new directory and catch up from its peers.
///
/// The lock is taken before anything else is read, so two processes never both recover and write the same log.
/// It is released by `close()`, on deinit, or when the process dies (the kernel drops flock locks with the
/// process, so a SIGKILLed node never leaves a stale lock behind).
public final class DataDirectory: Sendable {
    /// The only format this build reads and writes.
    public static let formatVersion = 2

    public let path: String
    public var writeAheadLogPath: String { path + "/wal" }
    /// Where each group's own directory (its snapshots) lives.
    public var groupsPath: String { path + "/groups" }

    /// A group's directory; it holds nothing but the group's snapshots, so removing it removes the group's files.
    public func groupPath(_ group: GroupID) -> String { groupsPath + "/" + String(group.rawValue) }
    public func snapshotsPath(of group: GroupID) -> String { groupPath(group) + "/snapshots" }

    /// The descriptor holding the lock; -1 once closed.
    private let lockDescriptor: Mutex<Int32>

    /// Opens (creating if needed) and locks the directory, then checks its format version.
    /// - Throws: `.directoryLocked` if another process (or another `DataDirectory` in this one) holds it;
    ///   `.unsupportedFormatVersion` if it was written by another format; `.ioFailure`/`.noSpace` otherwise.
    public init(path: String, io: any FileIO = PosixFileIO()) throws(StorageError) {
        self.path = path
        do {
            try Posix.makeDirectory(path)
        } catch {
            throw StorageError.systemCall(error, path: path)
        }
        let lockPath = path + "/LOCK"
        let descriptor: Int32
        do {
            descriptor = try Posix.open(lockPath, O_RDWR | O_CREAT)
        } catch {
            throw StorageError.systemCall(error, path: lockPath)
        }
        if !Self.lock(descriptor) {
            let failure = SystemCallError.lastError("flock")
            Posix.close(descriptor)
            if failure.errorNumber == EWOULDBLOCK {
                throw StorageError(
                    .directoryLocked, path: path,
                    "data directory \(path) is in use by another process (it holds \(lockPath)); "
                        + "stop that process or choose another data directory")
            }
            throw StorageError.systemCall(failure, path: lockPath)
        }
        lockDescriptor = Mutex(descriptor)
        do throws(StorageError) {
            try refusePerGroupLayout()
            try checkOrCreateVersion(io: io)
            for directory in [writeAheadLogPath, groupsPath] {
                do { try Posix.makeDirectory(directory) } catch {
                    throw StorageError.systemCall(error, path: directory)
                }
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Takes the lock, trying a few times over about 200 ms before giving up. A process that this one is spawning
    /// holds a copy of every descriptor until its exec closes them (close-on-exec), so a directory closed here just
    /// before may still look locked for a moment; a real second process keeps it locked and is refused.
    private static func lock(_ descriptor: Int32) -> Bool {
        for attempt in 0..<20 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            guard errno == EWOULDBLOCK, attempt < 19 else { return false }
            usleep(10_000)
        }
        return false
    }

    /// Releases the lock. Idempotent.
    public func close() {
        lockDescriptor.withLock { descriptor in
            guard descriptor >= 0 else { return }
            Posix.close(descriptor)
            descriptor = -1
        }
    }

    /// The contents of a small file the node keeps beside `VERSION` (the cluster's identity), nil if absent.
    public func readMetadata(_ name: String) throws(StorageError) -> [UInt8]? {
        let filePath = path + "/" + name
        guard Posix.exists(filePath) else { return nil }
        do { return try Posix.readFile(filePath) } catch { throw StorageError.systemCall(error, path: filePath) }
    }

    /// Replaces a small file beside `VERSION` atomically and durably.
    public func writeMetadata(_ name: String, _ bytes: [UInt8], io: any FileIO = PosixFileIO()) throws(StorageError) {
        let filePath = path + "/" + name
        do {
            try Posix.writeFileAtomically(bytes, to: filePath, directory: path, io: io)
        } catch {
            throw StorageError.systemCall(error, path: filePath)
        }
    }

    /// Refuses a directory laid out by an earlier build, one subdirectory per group (`group-1/VERSION`, ...), which
    /// has no VERSION of its own at the top and would otherwise look like a new, empty directory.
    private func refusePerGroupLayout() throws(StorageError) {
        let names: [String]
        do { names = try Posix.listDirectory(path) } catch { throw StorageError.systemCall(error, path: path) }
        guard let old = names.first(where: { $0.hasPrefix("group-") && Posix.exists(path + "/" + $0 + "/VERSION") })
        else { return }
        throw StorageError(
            .unsupportedFormatVersion, path: path + "/" + old,
            "data directory \(path) holds \(old)/, a consensus group's directory in the per-group layout of an "
                + "earlier quorum build; this build keeps one log shared by every group on the node "
                + "(format \(DataDirectory.formatVersion)) and does not convert old data. Start this build on a new "
                + "data directory and re-add the node to its cluster (it catches up from its peers), or keep running "
                + "the earlier build on this directory")
    }

    private func checkOrCreateVersion(io: any FileIO) throws(StorageError) {
        let versionPath = path + "/VERSION"
        if !Posix.exists(versionPath) {
            // A directory with data but no VERSION was not written by us (or lost its VERSION): do not guess.
            if Posix.exists(writeAheadLogPath) || Posix.exists(groupsPath) || Posix.exists(path + "/snapshots") {
                throw StorageError(
                    .unsupportedFormatVersion, path: versionPath,
                    "data directory \(path) holds data but no VERSION file; it was not written by quorum "
                        + "or is damaged; restore it or choose another data directory")
            }
            do {
                try Posix.writeFileAtomically(
                    Array("\(DataDirectory.formatVersion)\n".utf8), to: versionPath, directory: path, io: io)
            } catch {
                throw StorageError.systemCall(error, path: versionPath)
            }
            return
        }
        let bytes: [UInt8]
        do { bytes = try Posix.readFile(versionPath) } catch { throw StorageError.systemCall(error, path: versionPath) }
        let text = String(decoding: bytes.prefix(64), as: UTF8.self)
        let trimmed = text.filter { !$0.isWhitespace }
        guard let version = Int(trimmed) else {
            throw StorageError(
                .unsupportedFormatVersion, path: versionPath,
                "data directory \(path) has an unreadable format version \"\(trimmed)\" in \(versionPath); "
                    + "this build reads version \(DataDirectory.formatVersion)")
        }
        if version == 1 {
            throw StorageError(
                .unsupportedFormatVersion, path: versionPath,
                "data directory \(path) has format version 1: the log and snapshots of a single consensus group, "
                    + "written by an earlier quorum build; this build keeps one log shared by every group on the "
                    + "node (format \(DataDirectory.formatVersion)) and does not convert old data. Start this build "
                    + "on a new data directory and re-add the node to its cluster (it catches up from its peers), "
                    + "or keep running the earlier build on this directory")
        }
        guard version == DataDirectory.formatVersion else {
            throw StorageError(
                .unsupportedFormatVersion, path: versionPath,
                "data directory \(path) has format version \(version), but this build reads only version "
                    + "\(DataDirectory.formatVersion); run a quorum build that supports version \(version)")
        }
    }
}
