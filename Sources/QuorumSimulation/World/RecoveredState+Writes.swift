import QuorumConsensus
import QuorumNode

/// How a simulated disk's durable state changes, shared by the single- and multi-group worlds' disks so that both
/// model the real log's records the same way.
extension RecoveredState {
    /// Applies a write that reached the disk whole, or the prefix of one a crash tore.
    mutating func makeDurable(_ batch: PersistBatch) {
        if let snapshot = batch.snapshot, snapshot.lastIncludedIndex > (self.snapshot?.lastIncludedIndex ?? 0) {
            self.snapshot = snapshot
            entries.removeAll { !batch.keepsEntriesAfterSnapshot || $0.index <= snapshot.lastIncludedIndex }
        }
        if let first = batch.entries.first {
            entries.removeAll { $0.index >= first.index }
            let base = snapshot?.lastIncludedIndex ?? 0
            let contiguous = (entries.last?.index ?? base).advanced(by: 1) == first.index
            // A write past a gap can only follow a snapshot that was lost with it; the log must stay contiguous.
            if contiguous { entries += batch.entries.filter { $0.index > base } }
        }
        if let hardState = batch.hardState { self.hardState = hardState }
    }

    /// Stores a snapshot the node took of its own state machine: the entries it covers are no longer needed.
    mutating func compact(with snapshot: Snapshot) -> Bool {
        guard snapshot.lastIncludedIndex > (self.snapshot?.lastIncludedIndex ?? 0) else { return false }
        entries.removeAll { $0.index <= snapshot.lastIncludedIndex }
        self.snapshot = snapshot
        return true
    }
}

extension PersistBatch {
    /// The records the real log writes for this batch before its hard state: the snapshot's reset, then one per
    /// entry.
    var recordCount: Int { (snapshot == nil ? 0 : 1) + entries.count }

    /// What reaches the disk when a crash tears this write after `records` of its records: the hard state, written
    /// last, never does.
    func tornPrefix(keeping records: Int) -> PersistBatch {
        var torn = self
        if snapshot != nil && records == 0 { torn.snapshot = nil }
        torn.entries = Array(entries.prefix(max(0, records - (snapshot == nil ? 0 : 1))))
        torn.hardState = nil
        return torn
    }
}
