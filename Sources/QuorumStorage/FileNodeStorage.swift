import Foundation
import QuorumConsensus
import QuorumNode

/// Whether storage still accepts writes.
public enum StorageHealth: Hashable, Sendable {
    case healthy
    /// A write or sync failed; nothing more is accepted, and nothing that was in flight is reported durable.
    /// The node must leave elections and be restarted once the cause (say, a full disk) is fixed.
    case failed(StorageError)
    case closed
}

/// The real `NodeStorage`: a write-ahead log and a snapshot store in a locked data directory, with group
/// commit on a dedicated fsync thread.
///
/// `persist` only enqueues. The fsync thread takes everything queued, writes it with one write(2), issues one
/// fdatasync if any batch needs it, and then calls `onDurable` with the highest ready number it made durable,
/// on the fsync thread (the server hops back to its event loop). Readies are sequential, so reporting the
/// highest number covers every earlier one.
///
/// A failed write or sync moves storage to `.failed`: `onDurable` is never called for anything that was in the
/// failed group or after it, `onFailure` is called with the cause, and every later `persist` is refused at once
/// (`onFailure` again, or a throw from `submit`). What is already on disk is never rewritten, so a restart
/// recovers everything that was reported durable.
///
/// When the fsync thread runs out of work it prepares the log's spare segment file if the last rollover used it
/// (`WriteAheadLog.prepareSpareSegment()`): that is the one moment no batch is waiting for the thread, so creating
/// and preallocating the next segment's file delays only a batch that arrives meanwhile, once per segment, instead
/// of the batch whose append fills a segment.
///
/// Compaction keeps the log back to the second newest snapshot (with the default `snapshotsRetained` of 2), so
/// that a damaged newest snapshot can be skipped on recovery.
///
/// `close()` must be called, and not from `onDurable` or `onFailure` (it waits for the fsync thread, which is the
/// thread those run on): the fsync thread keeps the storage alive until then.
public final class FileNodeStorage: NodeStorage, @unchecked Sendable {
    // @unchecked Sendable: `queue`, `currentHealth`, `stopping`, `finished` and `newestSnapshotFile` are only
    // touched while holding `condition`; `log`, `snapshots`, `retainedSnapshots` and `resetIndex` are only
    // touched by the fsync thread between `init` and `close()` (which waits for that thread to finish first,
    // ordered by `condition`).

    public struct Options: Sendable {
        public var writeAheadLog: WriteAheadLog.Options
        /// How many snapshots to keep; the log is kept back to the oldest of them. At least 1.
        public var snapshotsRetained: Int

        public init(writeAheadLog: WriteAheadLog.Options = .init(), snapshotsRetained: Int = 2) {
            precondition(snapshotsRetained >= 1, "keep at least one snapshot")
            self.writeAheadLog = writeAheadLog
            self.snapshotsRetained = snapshotsRetained
        }
    }

    private enum Operation {
        case persist(PersistBatch)
        case saveSnapshot(Snapshot)
    }

    /// What the engine restarts from.
    public let recovered: RecoveredState
    public let recoveryReport: RecoveryReport
    public let directory: DataDirectory

    private let options: Options
    private let onDurable: @Sendable (UInt64) -> Void
    private let onFailure: @Sendable (StorageError) -> Void

    private let condition = NSCondition()
    private var queue: [Operation] = []
    private var currentHealth: StorageHealth = .healthy
    private var stopping = false
    private var finished = false
    /// The newest snapshot file on disk, for readers on other threads.
    private var newestSnapshotFile: SnapshotStore.File?

    // Fsync thread only.
    private let log: WriteAheadLog
    private let snapshots: SnapshotStore
    /// Snapshot files kept, oldest first.
    private var retainedSnapshots: [SnapshotStore.File]
    /// The newest leader snapshot that replaced the log; nothing at or before it is needed any more.
    private var resetIndex: LogIndex

    /// Opens and locks the data directory and recovers from it, then starts the fsync thread.
    /// - Parameters:
    ///   - onDurable: called on the fsync thread with the highest ready number made durable.
    ///   - onFailure: called when storage fails (on the fsync thread), and for each batch refused after that
    ///     (synchronously, on the thread that called `persist`, which is inside the driver: hop to the event loop
    ///     rather than touching the driver from here).
    /// - Throws: whatever opening the directory or recovery refuses (`.directoryLocked`,
    ///   `.unsupportedFormatVersion`, `.corruption`, `.missingData`), or an I/O failure.
    public init(
        path: String, options: Options = Options(),
        onDurable: @escaping @Sendable (UInt64) -> Void,
        onFailure: @escaping @Sendable (StorageError) -> Void = { _ in }
    ) throws(StorageError) {
        let io = options.writeAheadLog.io
        let directory = try DataDirectory(path: path, io: io)
        let (log, logRecovery) = try WriteAheadLog.open(
            directory: directory.writeAheadLogPath, options: options.writeAheadLog)
        let snapshots = try SnapshotStore(directory: directory.snapshotsPath, io: io)
        let (state, report, damaged) = try StorageRecovery.assemble(log: logRecovery, snapshots: snapshots)
        for file in damaged { try snapshots.setAside(file) }
        self.directory = directory
        self.log = log
        self.snapshots = snapshots
        self.recovered = state
        self.recoveryReport = report
        self.options = options
        self.onDurable = onDurable
        self.onFailure = onFailure
        self.retainedSnapshots = Array(try snapshots.files().reversed())
        self.newestSnapshotFile = retainedSnapshots.last
        self.resetIndex = logRecovery.snapshotReset?.index ?? .zero
        let thread = Thread { [self] in runFsyncLoop() }
        thread.name = "quorum-fsync"
        thread.start()
    }

    public var health: StorageHealth {
        condition.lock()
        defer { condition.unlock() }
        return currentHealth
    }

    /// Enqueues `batch`; `onDurable` reports it once durable. Refused at once (through `onFailure`) after a
    /// failure or `close()`.
    public func persist(_ batch: PersistBatch) {
        do { try submit(batch) } catch { onFailure(error) }
    }

    /// Like `persist`, but throws if storage has failed or is closed.
    public func submit(_ batch: PersistBatch) throws(StorageError) {
        try enqueue(.persist(batch), readyNumber: batch.readyNumber)
    }

    /// Enqueues a snapshot the node took itself; once written, the log before the retained snapshots is dropped.
    public func saveSnapshot(_ snapshot: Snapshot) {
        do { try enqueue(.saveSnapshot(snapshot), readyNumber: nil) } catch { onFailure(error) }
    }

    /// Opens the newest snapshot on disk for chunked reading (to send to a follower), or nil if there is none.
    /// Callable from any thread; the reader stays valid even if a newer snapshot replaces the file meanwhile.
    public func openNewestSnapshotForStreaming() throws(StorageError) -> SnapshotReader? {
        // Retention removes a snapshot only after a newer one is in place, so a file that vanished between
        // looking it up and opening it has a successor: look again.
        for _ in 0..<3 {
            condition.lock()
            let file = newestSnapshotFile
            condition.unlock()
            guard let file else { return nil }
            do {
                return try SnapshotReader(file: file)
            } catch {
                if Posix.exists(file.path) { throw error }
            }
        }
        throw StorageError(
            .ioFailure, path: directory.snapshotsPath,
            "snapshots in \(directory.snapshotsPath) kept changing while opening the newest; retry")
    }

    /// Writes what is queued, stops the fsync thread and releases the directory. Idempotent.
    public func close() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        if currentHealth == .healthy { currentHealth = .closed }
        condition.unlock()
        log.close()
        directory.close()
    }

    private func enqueue(_ operation: Operation, readyNumber: UInt64?) throws(StorageError) {
        condition.lock()
        defer { condition.unlock() }
        let what = readyNumber.map { "Ready \($0)" } ?? "snapshot"
        switch currentHealth {
        case .healthy where !stopping:
            queue.append(operation)
            condition.signal()
        case .failed(let cause):
            throw StorageError(
                .storageFailed, path: cause.path,
                "storage in \(directory.path) refused \(what): it stopped after an earlier failure (\(cause.message))")
        case .healthy, .closed:
            throw StorageError(.closed, path: directory.path, "storage in \(directory.path) refused \(what): closed")
        }
    }

    private func runFsyncLoop() {
        while true {
            condition.lock()
            if queue.isEmpty && !stopping && currentHealth == .healthy && log.needsSpareSegment {
                condition.unlock()
                // Nothing is queued, so no batch waits while the file is created and its blocks reserved. A
                // failure is not a storage failure (the spare holds nothing) and is not retried until the next
                // rollover, which tries again on the write path and fails storage if it still cannot.
                try? log.prepareSpareSegment()
                continue
            }
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let operations = queue
            queue.removeAll(keepingCapacity: true)
            let healthy = currentHealth == .healthy
            condition.unlock()
            guard healthy else { continue }
            do {
                if let highest = try write(operations) { onDurable(highest) }
            } catch {
                condition.lock()
                currentHealth = .failed(error)
                queue.removeAll()
                condition.unlock()
                onFailure(error)
            }
        }
    }

    /// Writes one group: every batch in order, then one sync if any batch needs it.
    /// - Returns: the highest ready number now durable, if the group held a batch.
    private func write(_ operations: [Operation]) throws(StorageError) -> UInt64? {
        var highest: UInt64?
        var needsSync = false
        for operation in operations {
            switch operation {
            case .persist(let batch):
                if let snapshot = batch.snapshot, snapshot.lastIncludedIndex > newestSnapshotIndex {
                    // The snapshot file is durable before the reset record that relies on it is written.
                    let file = try snapshots.save(snapshot)
                    try log.appendSnapshotReset(file.point)
                    resetIndex = file.point.index
                    try retain(file)
                }
                if !batch.entries.isEmpty { try log.append(batch.entries) }
                if let hardState = batch.hardState { try log.append(hardState) }
                needsSync = needsSync || batch.mustSync
                highest = max(highest ?? 0, batch.readyNumber)
            case .saveSnapshot(let snapshot):
                guard snapshot.lastIncludedIndex > newestSnapshotIndex else { continue }
                try retain(try snapshots.save(snapshot))
            }
        }
        if needsSync { try log.sync() } else { try log.flush() }
        return highest
    }

    private var newestSnapshotIndex: LogIndex { retainedSnapshots.last?.point.index ?? .zero }

    /// Keeps `file` among the retained snapshots, drops the oldest beyond the limit, and compacts the log back
    /// to the oldest snapshot kept (or the last leader snapshot, which replaced everything before it).
    private func retain(_ file: SnapshotStore.File) throws(StorageError) {
        retainedSnapshots.append(file)
        condition.lock()
        newestSnapshotFile = file
        condition.unlock()
        if retainedSnapshots.count > options.snapshotsRetained {
            retainedSnapshots.removeFirst(retainedSnapshots.count - options.snapshotsRetained)
            try snapshots.removeOlder(than: retainedSnapshots[0])
        }
        let oldestKept =
            retainedSnapshots.count >= options.snapshotsRetained ? retainedSnapshots[0].point.index : .zero
        try log.removeSegments(through: max(oldestKept, resetIndex))
    }
}
