extension KeyValueStore {
    /// Makes revisions below `target` unreadable at once; the history behind them is dropped a bounded amount
    /// per applied command by `compactStep(budget:)`, so compacting a large history never stalls the apply loop.
    mutating func compact(to target: Revision) throws(StoreError) {
        if target > revision { throw .futureRevision(requested: target, current: revision) }
        if target <= compactedRevision {
            throw .compacted(requested: target, oldestAvailable: compactedRevision)
        }
        compactedRevision = target
    }

    /// Whether history below `compactedRevision` is still waiting to be dropped.
    var isCompactionPending: Bool {
        guard let first = writeLog.first else { return false }
        return first.revision < compactedRevision
    }

    /// Drops the history of at most `budget` writes below `compactedRevision`. Observable results never change:
    /// nothing below `compactedRevision` can be read, and `KeyHistory.compact` keeps what reads and events at or
    /// above it need. Called after every applied command with `StoreLimits.compactionStepsPerCommand`, so it is
    /// part of the replicated behaviour and replicas stay identical. One step trims one key's whole history at
    /// once (later steps for the same key find nothing left), so a step costs O(records dropped) and the work
    /// per command is bounded by the budget times a key's history, not by the store's size.
    mutating func compactStep(budget: Int) {
        var remaining = budget
        while remaining > 0, let first = writeLog.first, first.revision < compactedRevision {
            writeLog.removeFirst()
            remaining -= 1
            guard let slot = histories.slot(of: first.key) else { continue }
            let target = compactedRevision
            if histories.modify(slot: slot, { $0.compact(below: target) }) {
                histories.remove(first.key)
                index.remove(first.key)
            }
        }
    }

    /// Drops all pending history now (tests; a host that wants to pay the cost at once).
    mutating func finishCompaction() {
        while isCompactionPending { compactStep(budget: 4096) }
    }

    /// Records kept across all keys: what compaction bounds.
    var retainedRecordCount: Int { histories.all.reduce(0) { $0 + $1.records.count } }
}
