import QuorumConsensus

/// A log position a snapshot ends at.
public struct SnapshotPoint: Hashable, Sendable, CustomStringConvertible {
    public var index: LogIndex
    public var term: Term

    public init(index: LogIndex, term: Term) {
        self.index = index
        self.term = term
    }

    public var description: String { "\(index)@\(term)" }
}

/// Rebuilds the log from WAL records in the order they were written.
///
/// Invariant: `entries` are contiguous (each index one more than the previous).
struct LogReplay {
    private(set) var entries: [Entry] = []
    var hardState: HardState?
    /// The newest leader snapshot that replaced the log, if the WAL still holds its record.
    private(set) var snapshotReset: SnapshotPoint?

    /// Applies an entry record: it replaces any entry at or after its index. Returns why it cannot, if so.
    mutating func append(_ entry: Entry) -> String? {
        if let first = entries.first, let last = entries.last {
            guard entry.index <= last.index.advanced(by: 1) else {
                return "entry \(entry.index) follows entry \(last.index): the log has a gap"
            }
            if entry.index <= first.index {
                entries.removeAll(keepingCapacity: true)
            } else if entry.index <= last.index {
                entries.removeLast(entry.index.distance(to: last.index) + 1)
            }
        } else if let snapshotReset, entry.index > snapshotReset.index.advanced(by: 1) {
            return "entry \(entry.index) follows the snapshot ending at \(snapshotReset.index): the log has a gap"
        }
        entries.append(entry)
        return nil
    }

    /// Applies a checkpoint record: it is the group's whole log from here on.
    mutating func replace(with checkpoint: GroupCheckpoint) {
        entries = checkpoint.entries
        snapshotReset = checkpoint.snapshotReset
        if let hardState = checkpoint.hardState { self.hardState = hardState }
    }

    /// Applies a snapshot-reset record: the log before and including the snapshot is gone, and so is everything
    /// after it unless the record keeps later entries. (Kept entries may start after the entry following the
    /// snapshot: the segments with the ones before may have been released already.)
    mutating func reset(to point: SnapshotPoint, keepingLaterEntries: Bool) {
        if keepingLaterEntries {
            entries.removeFirst(entries.prefix { $0.index <= point.index }.count)
        } else {
            entries.removeAll(keepingCapacity: true)
        }
        snapshotReset = point
    }
}
