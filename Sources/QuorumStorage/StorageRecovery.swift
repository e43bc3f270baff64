import QuorumConsensus

/// What recovery found besides the state itself: the things an operator should hear about.
public struct RecoveryReport: Sendable, CustomStringConvertible {
    /// A torn final write that was cut off, if any.
    public var tornTail: TornTail?
    /// Snapshots that did not verify and were set aside because the log still covered them.
    public var damagedSnapshots: [DamagedSnapshot]
    /// The snapshot recovery started from, if any.
    public var snapshot: SnapshotPoint?
    public var entryCount: Int

    public var description: String {
        var lines = ["recovered \(entryCount) entries after snapshot \(snapshot?.description ?? "none")"]
        if let tornTail { lines.append(tornTail.description) }
        for damaged in damagedSnapshots { lines.append("skipped \(damaged)") }
        return lines.joined(separator: "; ")
    }
}

/// A snapshot file that failed verification.
public struct DamagedSnapshot: Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var point: SnapshotPoint
    public var reason: String
    public var description: String { "damaged snapshot \(path): \(reason)" }
}

/// Puts a group's log and its snapshots back together into what its engine restarts from.
enum StorageRecovery {
    /// - Parameter tornTail: the torn write the node's log dropped, if any, to report (it may have held any group's
    ///   records, none of them acknowledged).
    /// - Returns: the state, the report, and the snapshot files to set aside.
    /// - Throws: `.missingData` when no valid snapshot plus the log reaches the state that was written: a damaged
    ///   snapshot the log does not cover, or a log that does not start right after the snapshot.
    static func assemble(
        log: GroupLogRecovery, tornTail: TornTail?, snapshots store: SnapshotStore
    ) throws(StorageError) -> (RecoveredState, RecoveryReport, [SnapshotStore.File]) {
        var damaged: [(SnapshotStore.File, DamagedSnapshot)] = []
        var chosen: Snapshot?
        for file in try store.files() {
            do {
                chosen = try store.load(file)
                break
            } catch let error where error.code == .corruption || error.code == .ioFailure {
                // A snapshot that cannot be read (a latent sector error) is as lost as one that does not verify.
                damaged.append((file, DamagedSnapshot(path: file.path, point: file.point, reason: error.message)))
            }
        }
        let base = chosen?.lastIncludedIndex ?? .zero
        if let reset = log.snapshotReset, reset.index > base {
            throw StorageError(
                .missingData, path: store.directory,
                "the log was replaced by the leader's snapshot at \(reset), but that snapshot is missing or damaged "
                    + "in \(store.directory)\(damagedList(damaged)); this node must be rebuilt from a peer")
        }
        var entries = log.entries
        // If the log still holds the snapshot's last entry with another term, what follows it was written before
        // the snapshot replaced the log (its reset record was lost with an unsynced write): it is stale.
        if let chosen, let first = entries.first, first.index <= base, let last = entries.last, base <= last.index,
            entries[first.index.distance(to: base)].term != chosen.lastIncludedTerm
        {
            entries.removeAll()
        }
        if let first = entries.first, first.index <= base {
            entries.removeFirst(min(entries.count, first.index.distance(to: base) + 1))
        }
        if let first = entries.first, first.index != base.advanced(by: 1) {
            throw StorageError(
                .missingData, path: store.directory,
                "the log starts at entry \(first.index) but the newest valid snapshot ends at \(base)"
                    + "\(damagedList(damaged)); entries in between are missing, this node must be rebuilt from a peer")
        }
        let lastIndex = entries.last?.index ?? base
        for (_, snapshot) in damaged where snapshot.point.index > lastIndex {
            throw StorageError(
                .missingData, path: snapshot.path,
                "\(snapshot) and the log only reaches entry \(lastIndex), not \(snapshot.point.index); "
                    + "this node must be rebuilt from a peer or the snapshot restored from a backup")
        }
        let state = RecoveredState(hardState: log.hardState ?? HardState(), snapshot: chosen, entries: entries)
        let report = RecoveryReport(
            tornTail: tornTail, damagedSnapshots: damaged.map(\.1),
            snapshot: chosen.map { SnapshotPoint(index: $0.lastIncludedIndex, term: $0.lastIncludedTerm) },
            entryCount: entries.count)
        return (state, report, damaged.map(\.0))
    }

    private static func damagedList(_ damaged: [(SnapshotStore.File, DamagedSnapshot)]) -> String {
        damaged.isEmpty ? "" : " (" + damaged.map(\.1.description).joined(separator: "; ") + ")"
    }
}
