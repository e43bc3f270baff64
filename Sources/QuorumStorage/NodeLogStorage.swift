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

/// A node's storage, shared by every consensus group on it: one locked data directory, one write-ahead log and
/// one fsync thread, with each group's snapshots in a directory of its own (see `DataDirectory`).
///
/// Each group gets its own `GroupLogStorage` (`openGroup`), a `NodeStorage` with its own `onDurable` and
/// `onFailure`. Its `persist` only enqueues. The fsync thread takes everything queued, from every group, writes
/// it with one write(2), issues one fdatasync if any batch needs it, and then calls each group's `onDurable`
/// with the highest ready number of that group it made durable, on the fsync thread (the server hops back to
/// its event loop). A group's readies are sequential, so reporting the highest number covers every earlier one.
/// That is group commit across groups: a thousand groups with something to persist share one fdatasync.
///
/// A failed write or sync fails the whole node's storage, every group at once (they share the log):
/// `onDurable` is never called for anything that was in the failed group commit or after it, every open group's
/// `onFailure` is called with the cause, and every later `persist` is refused at once. What is already on disk is
/// never rewritten, so a restart recovers everything that was reported durable.
///
/// A group is destroyed with `destroyGroup`: a tombstone record is made durable, then its snapshots are removed.
/// The tombstone stays in the log (copied into every new segment), so recovery knows the group is gone and
/// `openGroup` refuses to bring it back unless asked to explicitly.
///
/// When the fsync thread runs out of work it prepares the log's spare segment file if the last rollover used it
/// (`WriteAheadLog.prepareSpareSegment()`): that is the one moment no batch is waiting for the thread. Each group
/// keeps its log back to its second newest snapshot (with the default `snapshotsRetained` of 2), so that a
/// damaged newest snapshot can be skipped on recovery; segments go once no group needs them, and after each
/// group commit, once its groups have heard `onDurable`, the thread releases them (rewriting a lagging group's
/// live records past `WriteAheadLog.Options.segmentCountLimit`).
///
/// `close()` must be called, and neither it nor `destroyGroup` from `onDurable` or `onFailure` (they wait for the
/// fsync thread, which is the thread those run on): the fsync thread keeps the storage alive until then.
public final class NodeLogStorage: @unchecked Sendable {
    // @unchecked Sendable: `queue`, `currentHealth`, `stopping`, `finished`, `openGroups`, `tombstones`,
    // `unopenedRecoveries` and every `Destruction.done` are only touched while holding `condition`; `log` and
    // `groupSnapshots` are only touched by the fsync thread between `init` and `close()` (which waits for that
    // thread to finish first, ordered by `condition`).

    public struct Options: Sendable {
        public var writeAheadLog: WriteAheadLog.Options
        /// How many snapshots each group keeps; its log is kept back to the oldest of them. At least 1.
        public var snapshotsRetained: Int
        /// Called on the fsync thread after each sync of the log with how many groups' writes it made durable: what
        /// one log per group would have needed as many syncs for.
        public var groupsSynced: (@Sendable (Int) -> Void)?

        public init(
            writeAheadLog: WriteAheadLog.Options = .init(), snapshotsRetained: Int = 2,
            groupsSynced: (@Sendable (Int) -> Void)? = nil
        ) {
            precondition(snapshotsRetained >= 1, "keep at least one snapshot")
            self.writeAheadLog = writeAheadLog
            self.snapshotsRetained = snapshotsRetained
            self.groupsSynced = groupsSynced
        }
    }

    /// A destruction of a group, waited for by the caller of `destroyGroup(_:)` or reported to `onDone`.
    private final class Destruction {
        var done = false
        let onDone: (@Sendable (StorageError?) -> Void)?

        init(onDone: (@Sendable (StorageError?) -> Void)?) { self.onDone = onDone }
    }

    private enum Operation {
        /// A group was opened: the fsync thread takes over its snapshots, and writes its revival first if it
        /// was destroyed before.
        case open(GroupSnapshots, revive: Bool)
        case persist(PersistBatch)
        case saveSnapshot(Snapshot)
        case destroy(Destruction)
    }

    /// What the fsync thread keeps for one open group.
    private struct GroupSnapshots {
        let handle: GroupLogStorage
        let store: SnapshotStore
        /// Snapshot files kept, oldest first.
        var retained: [SnapshotStore.File]
        /// The newest leader snapshot that replaced the log; nothing at or before it is needed any more.
        var resetIndex: LogIndex
    }

    public let directory: DataDirectory
    /// The torn final write recovery cut off the log, if any (also in each recovered group's report).
    public let tornTail: TornTail?
    /// The groups the data directory holds (records in the log, or snapshots), destroyed ones excepted, as found
    /// when it was opened.
    public let recoveredGroups: [GroupID]

    private let options: Options

    private let condition = NSCondition()
    private var queue: [(GroupID, Operation)] = []
    /// Writes submitted inside `holdingSubmissions`, handed to the fsync thread together when it ends.
    private var held: [(GroupID, Operation)] = []
    private var holdDepth = 0
    private var currentHealth: StorageHealth = .healthy
    private var stopping = false
    private var finished = false
    /// Groups with a storage handed out, or being opened (nil until the handle exists).
    private var openGroups: [GroupID: GroupLogStorage?] = [:]
    private var tombstones: Set<GroupID>
    /// What the log held of each group that has not been opened yet.
    private var unopenedRecoveries: [GroupID: GroupLogRecovery]

    // Fsync thread only.
    private let log: WriteAheadLog
    private var groupSnapshots: [GroupID: GroupSnapshots] = [:]

    /// Opens and locks the data directory and recovers the shared log, then starts the fsync thread. Groups are
    /// recovered from their snapshots when they are opened (`openGroup`).
    /// - Throws: whatever opening the directory or recovery refuses (`.directoryLocked`,
    ///   `.unsupportedFormatVersion` for a directory of an earlier build, `.corruption`, `.missingData`), or an
    ///   I/O failure.
    public init(path: String, options: Options = Options()) throws(StorageError) {
        let directory = try DataDirectory(path: path, io: options.writeAheadLog.io)
        let (log, recovery) = try WriteAheadLog.open(
            directory: directory.writeAheadLogPath, options: options.writeAheadLog)
        let groupDirectories: [String]
        do { groupDirectories = try Posix.listDirectory(directory.groupsPath) } catch {
            throw StorageError.systemCall(error, path: directory.groupsPath)
        }
        var found = Set(recovery.groups.keys)
        for name in groupDirectories {
            guard let number = UInt64(name) else { continue }
            let group = GroupID(number)
            if recovery.tombstones.contains(group) {
                // The tombstone is durable but the crash came before the snapshots were removed: finish that.
                do { try Posix.removeTree(directory.groupPath(group)) } catch {
                    throw StorageError.systemCall(error, path: directory.groupPath(group))
                }
            } else {
                found.insert(group)
            }
        }
        self.directory = directory
        self.log = log
        self.options = options
        self.tornTail = recovery.tornTail
        self.recoveredGroups = found.sorted()
        self.tombstones = recovery.tombstones
        self.unopenedRecoveries = recovery.groups
        let thread = Thread { [self] in runFsyncLoop() }
        thread.name = "quorum-fsync"
        thread.start()
    }

    public var health: StorageHealth {
        condition.lock()
        defer { condition.unlock() }
        return currentHealth
    }

    /// Groups destroyed on this node, whose tombstones are in the log.
    public var tombstonedGroups: Set<GroupID> {
        condition.lock()
        defer { condition.unlock() }
        return tombstones
    }

    /// Whether `group` was destroyed on this node: a late request for it (a peer's message, a client's write)
    /// should be refused rather than bring it back.
    public func isTombstoned(_ group: GroupID) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return tombstones.contains(group)
    }

    /// Hands out the storage of `group`, recovered from the log and its snapshots, or empty if the node holds
    /// nothing of it. One storage per group: opening it twice is refused.
    /// - Parameters:
    ///   - allowingRecreation: whether a destroyed group may be created again, empty (its revival is recorded in
    ///     the log with its first sync). Without it, a destroyed group is refused.
    ///   - onDurable: called on the fsync thread with the group's highest ready number made durable.
    ///   - onFailure: called when storage fails (on the fsync thread), and for each batch refused after that
    ///     (synchronously, on the thread that called `persist`, which is inside the driver: hop to the event loop
    ///     rather than touching the driver from here).
    /// - Throws: `.groupDestroyed`, `.groupAlreadyOpen`, what recovering its snapshots refuses (`.missingData`),
    ///   or the failure that stopped the storage.
    public func openGroup(
        _ group: GroupID, allowingRecreation: Bool = false,
        onDurable: @escaping @Sendable (UInt64) -> Void,
        onFailure: @escaping @Sendable (StorageError) -> Void = { _ in }
    ) throws(StorageError) -> GroupLogStorage {
        condition.lock()
        let reserved: Result<(GroupLogRecovery, Bool), StorageError> = reserve(group, allowingRecreation)
        condition.unlock()
        let (logRecovery, revive) = try reserved.get()
        let handle: GroupLogStorage
        let snapshots: GroupSnapshots
        do throws(StorageError) {
            try createGroupDirectory(group)
            let store = try SnapshotStore(directory: directory.snapshotsPath(of: group), io: options.writeAheadLog.io)
            let (state, report, damaged) = try StorageRecovery.assemble(
                log: logRecovery, tornTail: tornTail, snapshots: store)
            for file in damaged { try store.setAside(file) }
            let retained = Array(try store.files().reversed())
            handle = GroupLogStorage(
                group: group, node: self, recovered: state, recoveryReport: report, newestSnapshot: retained.last,
                onDurable: onDurable, onFailure: onFailure)
            snapshots = GroupSnapshots(
                handle: handle, store: store, retained: retained,
                resetIndex: logRecovery.snapshotReset?.index ?? .zero)
        } catch {
            condition.lock()
            openGroups[group] = nil
            if revive { tombstones.insert(group) } else { unopenedRecoveries[group] = logRecovery }
            condition.unlock()
            throw error
        }
        condition.lock()
        defer { condition.unlock() }
        if tombstones.contains(group) {
            // Destroyed by another thread while its snapshots were being read.
            throw StorageError(
                .groupDestroyed, path: directory.groupPath(group), "\(group) was destroyed while it was being opened")
        }
        openGroups[group] = handle
        releaseHeld()
        queue.append((group, .open(snapshots, revive: revive)))
        condition.signal()
        return handle
    }

    /// Destroys `group` on this node: writes its tombstone and waits until it is durable, then removes its
    /// snapshots. Its storage refuses everything from then on, and `openGroup` refuses it unless
    /// `allowingRecreation`. Destroying a destroyed group does nothing. Not from `onDurable` or `onFailure`.
    /// - Throws: the failure that stopped the storage, or `.closed`.
    public func destroyGroup(_ group: GroupID) throws(StorageError) {
        condition.lock()
        defer { condition.unlock() }
        guard let destruction = try beginDestroying(group, onDone: nil) else { return }
        while !destruction.done {
            if case .failed(let cause) = currentHealth { throw cause }
            condition.wait()
        }
    }

    /// Like `destroyGroup(_:)`, but without waiting: the group is refused at once, and `done` is called on the fsync
    /// thread once its tombstone is durable and its snapshots are gone (nil), or with the failure that stopped the
    /// storage first. A host on an event loop uses this, so that no turn waits for an fsync.
    /// - Throws: the failure that stopped the storage, or `.closed`, before anything was queued.
    public func destroyGroup(
        _ group: GroupID, then done: @escaping @Sendable (StorageError?) -> Void
    ) throws(StorageError) {
        condition.lock()
        let destruction: Destruction?
        do throws(StorageError) {
            destruction = try beginDestroying(group, onDone: done)
        } catch {
            condition.unlock()
            throw error
        }
        condition.unlock()
        if destruction == nil { done(nil) }
    }

    /// Refuses `group` from now on and queues its tombstone; nil if it was destroyed already. Call holding
    /// `condition`.
    private func beginDestroying(
        _ group: GroupID, onDone: (@Sendable (StorageError?) -> Void)?
    ) throws(StorageError) -> Destruction? {
        try checkAccepting("destroying \(group)")
        guard !tombstones.contains(group) else { return nil }
        let destruction = Destruction(onDone: onDone)
        tombstones.insert(group)
        openGroups[group] = nil
        unopenedRecoveries[group] = nil
        releaseHeld()
        queue.append((group, .destroy(destruction)))
        condition.signal()
        return destruction
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

    // MARK: For the groups' storages

    func health(of group: GroupID) -> StorageHealth {
        condition.lock()
        defer { condition.unlock() }
        if currentHealth == .healthy && tombstones.contains(group) { return .closed }
        return currentHealth
    }

    func submit(_ batch: PersistBatch, for group: GroupID) throws(StorageError) {
        try enqueue(.persist(batch), for: group, what: "Ready \(batch.readyNumber) of \(group)")
    }

    func saveSnapshot(_ snapshot: Snapshot, for group: GroupID) throws(StorageError) {
        try enqueue(.saveSnapshot(snapshot), for: group, what: "a snapshot of \(group)")
    }

    // MARK: Internals

    /// Creates the group's directory and its snapshots directory if missing, durably: a snapshot a reset record
    /// relies on must not vanish with a directory entry a crash lost.
    private func createGroupDirectory(_ group: GroupID) throws(StorageError) {
        let path = directory.groupPath(group)
        let snapshotsPath = directory.snapshotsPath(of: group)
        guard !Posix.exists(snapshotsPath) else { return }
        do {
            try Posix.makeDirectory(path)
            try Posix.makeDirectory(snapshotsPath)
            try Posix.synchronizeDirectory(path, io: options.writeAheadLog.io)
            try Posix.synchronizeDirectory(directory.groupsPath, io: options.writeAheadLog.io)
        } catch {
            throw StorageError.systemCall(error, path: snapshotsPath)
        }
    }

    /// Claims `group` for opening; under `condition`.
    private func reserve(
        _ group: GroupID, _ allowingRecreation: Bool
    ) -> Result<(GroupLogRecovery, Bool), StorageError> {
        do throws(StorageError) {
            try checkAccepting("opening \(group)")
            if openGroups[group] != nil {
                throw StorageError(
                    .groupAlreadyOpen, path: directory.groupPath(group),
                    "the storage of \(group) is already open in this process; use the one handed out before")
            }
            let revive = tombstones.contains(group)
            if revive && !allowingRecreation {
                throw StorageError(
                    .groupDestroyed, path: directory.groupPath(group),
                    "\(group) was destroyed on this node (its tombstone is in \(directory.writeAheadLogPath)) and is "
                        + "not created again by accident; if it is being re-added on purpose, open it with "
                        + "allowingRecreation, and it starts empty")
            }
            tombstones.remove(group)
            openGroups[group] = .some(nil)
            let recovery = unopenedRecoveries.removeValue(forKey: group) ?? GroupLogRecovery()
            return .success((recovery, revive))
        } catch {
            return .failure(error)
        }
    }

    /// Under `condition`.
    private func checkAccepting(_ what: String) throws(StorageError) {
        switch currentHealth {
        case .healthy where !stopping: return
        case .failed(let cause):
            throw StorageError(
                .storageFailed, path: cause.path,
                "storage in \(directory.path) refused \(what): it stopped after an earlier failure (\(cause.message))")
        case .healthy, .closed:
            throw StorageError(.closed, path: directory.path, "storage in \(directory.path) refused \(what): closed")
        }
    }

    private func enqueue(_ operation: Operation, for group: GroupID, what: String) throws(StorageError) {
        condition.lock()
        defer { condition.unlock() }
        try checkAccepting(what)
        guard tombstones.contains(group) == false, openGroups[group] != nil else {
            throw StorageError(
                .groupDestroyed, path: directory.groupPath(group),
                "storage in \(directory.path) refused \(what): \(group) was destroyed on this node")
        }
        if holdDepth > 0 {
            held.append((group, operation))
        } else {
            queue.append((group, operation))
            condition.signal()
        }
    }

    /// Runs `body`, holding back the writes it submits until it ends, then hands them to the fsync thread at once:
    /// a host that drives every group once per event-loop turn wakes the thread once, and every group's write of that
    /// turn shares its fdatasync, instead of the thread starting a sync for the first write while the others are
    /// still being made. Writes submitted from other threads meanwhile are held too.
    public func holdingSubmissions<Result>(_ body: () throws -> Result) rethrows -> Result {
        condition.lock()
        holdDepth += 1
        condition.unlock()
        defer {
            condition.lock()
            holdDepth -= 1
            if holdDepth == 0 { releaseHeld() }
            condition.unlock()
        }
        return try body()
    }

    /// Hands the held writes to the fsync thread; an opening or destruction of a group goes after them, in the order
    /// they were submitted. Call holding `condition`.
    private func releaseHeld() {
        guard !held.isEmpty else { return }
        queue += held
        held.removeAll(keepingCapacity: true)
        condition.signal()
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
                let (durable, destructions) = try write(operations)
                for (handle, readyNumber) in durable { handle.onDurable(readyNumber) }
                if !destructions.isEmpty {
                    condition.lock()
                    for destruction in destructions { destruction.done = true }
                    condition.broadcast()
                    condition.unlock()
                    for destruction in destructions { destruction.onDone?(nil) }
                }
                // After the acknowledgements, so that a rewrite of a lagging group delays none of them.
                try log.releaseSegments()
            } catch {
                condition.lock()
                currentHealth = .failed(error)
                let unfinished = (operations + queue).compactMap { _, operation -> Destruction? in
                    if case .destroy(let destruction) = operation { destruction } else { nil }
                }
                queue.removeAll()
                let handles = openGroups.values.compactMap { $0 }
                condition.broadcast()
                condition.unlock()
                for handle in handles { handle.onFailure(error) }
                for destruction in unfinished { destruction.onDone?(error) }
            }
        }
    }

    /// Writes one group commit: every operation in order, then one sync if any batch needs it, then the removal
    /// of destroyed groups' snapshots (only once their tombstones are durable).
    /// - Returns: each group's highest ready number now durable, and the destructions now complete.
    private func write(
        _ operations: [(GroupID, Operation)]
    ) throws(StorageError) -> ([(GroupLogStorage, UInt64)], [Destruction]) {
        var highest: [GroupID: (GroupLogStorage, UInt64)] = [:]
        var destroyed: [(GroupID, Destruction)] = []
        var needsSync = false
        for (group, operation) in operations {
            switch operation {
            case .open(let snapshots, let revive):
                if revive { try log.appendRevival(for: group) }
                groupSnapshots[group] = snapshots
                log.setReleasePoint(of: group, through: releasePoint(of: snapshots))
            case .persist(let batch):
                // A batch queued before its group's destruction was refused nothing; it is written, then dropped
                // with the group by the tombstone after it.
                guard var snapshots = groupSnapshots[group] else { continue }
                if let snapshot = batch.snapshot, snapshot.lastIncludedIndex > newestIndex(of: snapshots) {
                    // The snapshot file is durable before the reset record that relies on it is written.
                    let file = try snapshots.store.save(snapshot)
                    try log.appendSnapshotReset(
                        file.point, keepingLaterEntries: batch.keepsEntriesAfterSnapshot, for: group)
                    snapshots.resetIndex = file.point.index
                    retain(file, in: &snapshots, of: group)
                }
                if !batch.entries.isEmpty { try log.append(batch.entries, for: group) }
                if let hardState = batch.hardState { try log.append(hardState, for: group) }
                needsSync = needsSync || batch.mustSync
                try removeOldSnapshots(in: &snapshots)
                groupSnapshots[group] = snapshots
                highest[group] = (snapshots.handle, max(highest[group]?.1 ?? 0, batch.readyNumber))
            case .saveSnapshot(let snapshot):
                guard var snapshots = groupSnapshots[group], snapshot.lastIncludedIndex > newestIndex(of: snapshots)
                else { continue }
                retain(try snapshots.store.save(snapshot), in: &snapshots, of: group)
                try removeOldSnapshots(in: &snapshots)
                groupSnapshots[group] = snapshots
            case .destroy(let destruction):
                try log.appendTombstone(for: group)
                groupSnapshots[group] = nil
                highest[group] = nil
                destroyed.append((group, destruction))
                needsSync = true
            }
        }
        if needsSync {
            try log.sync()
            options.groupsSynced?(highest.count)
        } else {
            try log.flush()
        }
        for (group, _) in destroyed {
            let path = directory.groupPath(group)
            do {
                try Posix.removeTree(path)
                try Posix.synchronizeDirectory(directory.groupsPath, io: options.writeAheadLog.io)
            } catch {
                throw StorageError.systemCall(error, path: path)
            }
        }
        return (Array(highest.values), destroyed.map(\.1))
    }

    private func newestIndex(of snapshots: GroupSnapshots) -> LogIndex { snapshots.retained.last?.point.index ?? .zero }

    /// Keeps `file` among the group's retained snapshots and tells the log how far the group's log is now covered:
    /// back to the oldest snapshot kept (or the last leader snapshot, which replaced everything before it).
    private func retain(_ file: SnapshotStore.File, in snapshots: inout GroupSnapshots, of group: GroupID) {
        snapshots.retained.append(file)
        snapshots.handle.newestSnapshotFile.withLock { $0 = file }
        log.setReleasePoint(of: group, through: releasePoint(of: snapshots))
    }

    /// Drops the oldest snapshots beyond the limit (after `retain` has moved the release point past them).
    private func removeOldSnapshots(in snapshots: inout GroupSnapshots) throws(StorageError) {
        guard snapshots.retained.count > options.snapshotsRetained else { return }
        snapshots.retained.removeFirst(snapshots.retained.count - options.snapshotsRetained)
        try snapshots.store.removeOlder(than: snapshots.retained[0])
    }

    private func releasePoint(of snapshots: GroupSnapshots) -> LogIndex {
        let oldestKept =
            snapshots.retained.count >= options.snapshotsRetained
            ? snapshots.retained[snapshots.retained.count - options.snapshotsRetained].point.index : .zero
        return max(oldestKept, snapshots.resetIndex)
    }
}
