/// Everything QuorumStorage refuses or fails at, with a message that says what was wrong, where, and what to do.
///
/// A struct over an extensible `Code` (NIO's shape) so that new failure kinds do not break callers that switch.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Another process holds the data directory's lock.
        public static let directoryLocked = Code("directoryLocked")
        /// The data directory was written by a format this build does not read.
        public static let unsupportedFormatVersion = Code("unsupportedFormatVersion")
        /// A record or file failed its checksum or does not decode, somewhere a torn write cannot explain.
        public static let corruption = Code("corruption")
        /// A log segment is missing between two others, or the log does not reach back to the snapshot.
        public static let missingData = Code("missingData")
        /// The disk is full.
        public static let noSpace = Code("noSpace")
        /// A system call failed for another reason.
        public static let ioFailure = Code("ioFailure")
        /// A value is too large to store (larger than the configured maximum record size).
        public static let recordTooLarge = Code("recordTooLarge")
        /// A previous write failed; the storage refuses everything until restarted.
        public static let storageFailed = Code("storageFailed")
        /// The storage was closed.
        public static let closed = Code("closed")
        /// The consensus group was destroyed on this node (its tombstone is in the log), or is being used twice.
        public static let groupDestroyed = Code("groupDestroyed")
        /// The consensus group's storage is already open in this process.
        public static let groupAlreadyOpen = Code("groupAlreadyOpen")
    }

    public let code: Code
    /// The file or directory concerned, if any.
    public let path: String?
    /// The byte offset in `path` concerned, if any.
    public let offset: Int?
    /// The full explanation.
    public let message: String

    init(_ code: Code, path: String? = nil, offset: Int? = nil, _ message: String) {
        self.code = code
        self.path = path
        self.offset = offset
        self.message = message
    }

    public var description: String { message }
}

extension StorageError {
    /// Wraps a failed system call on `path`, classifying a full disk as `.noSpace`.
    static func systemCall(_ call: SystemCallError, path: String) -> StorageError {
        if call.isNoSpace {
            return StorageError(
                .noSpace, path: path,
                "\(call.function) on \(path) failed: no space left on device; free disk space (a running node "
                    + "reopens its storage by itself once there is room)")
        }
        return StorageError(
            .ioFailure, path: path,
            "\(call.function) on \(path) failed: \(call.reason); check the disk, then restart the node")
    }
}
