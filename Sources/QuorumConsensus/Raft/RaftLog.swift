/// The engine's view of the log: a compacted prefix summarised by (`baseIndex`, `baseTerm`), then entries.
///
/// Invariants: `baseIndex <= appliedIndex <= commitIndex`; `appliedIndex <= max(stableIndex, baseIndex)`;
/// `stableIndex <= lastIndex`; entries are contiguous from `baseIndex + 1`.
struct RaftLog: Sendable {
    /// Everything at or below `baseIndex` lives only in the snapshot.
    private(set) var baseIndex: LogIndex
    private(set) var baseTerm: Term
    private var entries: [Entry]
    /// The newest entry known to be durable on this node.
    private(set) var stableIndex: LogIndex
    /// The first index not yet handed to the driver for persistence.
    private(set) var unpersistedFrom: LogIndex
    private(set) var commitIndex: LogIndex
    /// The newest entry handed to the driver for applying.
    private(set) var appliedIndex: LogIndex

    init(baseIndex: LogIndex, baseTerm: Term, entries: [Entry], commitIndex: LogIndex) {
        self.baseIndex = baseIndex
        self.baseTerm = baseTerm
        self.entries = entries
        let last = baseIndex.advanced(by: entries.count)
        self.stableIndex = last
        self.unpersistedFrom = last.advanced(by: 1)
        self.commitIndex = min(max(commitIndex, baseIndex), last)
        self.appliedIndex = baseIndex
    }

    var firstIndex: LogIndex { baseIndex.advanced(by: 1) }
    var lastIndex: LogIndex { baseIndex.advanced(by: entries.count) }
    var lastTerm: Term { entries.last?.term ?? baseTerm }

    /// The term at `index`, or nil when it was compacted away or lies beyond the end.
    func term(at index: LogIndex) -> Term? {
        if index == baseIndex { return baseTerm }
        guard index > baseIndex, index <= lastIndex else { return nil }
        return entries[baseIndex.distance(to: index) - 1].term
    }

    func entry(at index: LogIndex) -> Entry {
        precondition(index > baseIndex && index <= lastIndex, "entry \(index) outside \(firstIndex)...\(lastIndex)")
        return entries[baseIndex.distance(to: index) - 1]
    }

    /// Entries in `from...through`, cut after `bytesMax` bytes but always at least one.
    func entries(from: LogIndex, through: LogIndex, bytesMax: Int = .max) -> [Entry] {
        guard from <= through else { return [] }
        precondition(from > baseIndex && through <= lastIndex, "slice \(from)...\(through) outside the log")
        let lower = baseIndex.distance(to: from) - 1
        let upper = baseIndex.distance(to: through) - 1
        var bytes = 0
        var end = lower
        while end <= upper {
            bytes += entries[end].encodedBytes
            if bytes > bytesMax && end > lower { break }
            end += 1
        }
        return Array(entries[lower..<end])
    }

    /// Whether a log ending at (`index`, `term`) is at least as up to date as this one (Raft §5.4.1).
    func isUpToDate(lastIndex index: LogIndex, lastTerm term: Term) -> Bool {
        term > lastTerm || (term == lastTerm && index >= lastIndex)
    }

    /// The newest index at or below `index` whose term is at most `term`: the fast-backtracking hint.
    func lastIndex(atOrBelow index: LogIndex, withTermAtMost term: Term) -> LogIndex {
        var candidate = min(index, lastIndex)
        while candidate > baseIndex, let found = self.term(at: candidate), found > term {
            candidate = candidate.advanced(by: -1)
        }
        return candidate
    }

    mutating func append(_ entry: Entry) {
        precondition(entry.index == lastIndex.advanced(by: 1), "append \(entry.index) after \(lastIndex)")
        precondition(entry.term >= lastTerm, "terms in the log never decrease")
        entries.append(entry)
    }

    /// Appends a leader's entries after a matching (`previousIndex`, term), truncating a conflicting suffix.
    /// Returns the index of the last new entry, or nil (changing nothing) if they conflict with a committed
    /// entry, which only a faulty leader sends. Precondition: the previous entry matches.
    mutating func appendFromLeader(after previousIndex: LogIndex, _ incoming: [Entry]) -> LogIndex? {
        var position = 0
        // Skip entries we already have; a duplicate or reordered message must not truncate anything.
        while position < incoming.count {
            let entry = incoming[position]
            if entry.index <= baseIndex {
                position += 1
                continue
            }
            guard let existing = term(at: entry.index) else { break }
            if existing != entry.term {
                guard entry.index > commitIndex else { return nil }
                truncate(from: entry.index)
                break
            }
            position += 1
        }
        for entry in incoming[position...] { append(entry) }
        return previousIndex.advanced(by: incoming.count)
    }

    private mutating func truncate(from index: LogIndex) {
        entries.removeLast(index.distance(to: lastIndex) + 1)
        stableIndex = min(stableIndex, index.advanced(by: -1))
        unpersistedFrom = min(unpersistedFrom, index)
    }

    mutating func commit(through index: LogIndex) {
        guard index > commitIndex else { return }
        precondition(index <= lastIndex, "commit \(index) beyond the last entry \(lastIndex)")
        commitIndex = index
    }

    /// Entries to hand to the driver for persistence, marking them handed over.
    mutating func takeUnpersisted() -> [Entry] {
        guard unpersistedFrom <= lastIndex else { return [] }
        let taken = entries(from: unpersistedFrom, through: lastIndex)
        unpersistedFrom = lastIndex.advanced(by: 1)
        return taken
    }

    var hasUnpersisted: Bool { unpersistedFrom <= lastIndex }

    /// The driver persisted everything up to (`index`, `term`). A truncation since then may have replaced it.
    mutating func markStable(through index: LogIndex, term: Term) {
        guard index > stableIndex, self.term(at: index) == term, index < unpersistedFrom else { return }
        stableIndex = index
    }

    /// Committed entries that are also durable here, not yet handed out for applying.
    var applicableRange: ClosedRange<LogIndex>? {
        let upper = min(commitIndex, stableIndex)
        return upper > appliedIndex ? appliedIndex.advanced(by: 1)...upper : nil
    }

    mutating func markApplied(through index: LogIndex) {
        precondition(index <= commitIndex && index <= stableIndex, "applying \(index) before it is committed")
        appliedIndex = max(appliedIndex, index)
    }

    /// Drops entries through `index` (already in a snapshot).
    mutating func compact(through index: LogIndex) {
        guard index > baseIndex else { return }
        precondition(index <= appliedIndex, "compacting \(index) beyond applied \(appliedIndex)")
        let newBaseTerm = term(at: index)!
        entries.removeFirst(baseIndex.distance(to: index))
        baseIndex = index
        baseTerm = newBaseTerm
    }

    /// Replaces the whole log with a snapshot received from the leader.
    mutating func restore(_ snapshot: Snapshot) {
        entries.removeAll()
        baseIndex = snapshot.lastIncludedIndex
        baseTerm = snapshot.lastIncludedTerm
        commitIndex = baseIndex
        appliedIndex = baseIndex
        // The snapshot is durable once the Ready carrying it is acknowledged; until then nothing after it is.
        stableIndex = min(stableIndex, baseIndex)
        unpersistedFrom = baseIndex.advanced(by: 1)
    }

    mutating func markSnapshotStable(_ snapshot: Snapshot) {
        if baseIndex == snapshot.lastIncludedIndex { stableIndex = max(stableIndex, baseIndex) }
    }

    func checkInvariants() {
        precondition(baseIndex <= appliedIndex, "applied \(appliedIndex) below base \(baseIndex)")
        precondition(appliedIndex <= commitIndex, "applied \(appliedIndex) beyond commit \(commitIndex)")
        precondition(commitIndex <= lastIndex, "commit \(commitIndex) beyond last \(lastIndex)")
        precondition(stableIndex <= lastIndex, "stable \(stableIndex) beyond last \(lastIndex)")
        // A snapshot from the leader is restored into the state machine while it is still being persisted.
        precondition(appliedIndex <= max(stableIndex, baseIndex), "applied \(appliedIndex) beyond stable \(stableIndex)")
        precondition(unpersistedFrom > stableIndex, "unpersisted \(unpersistedFrom) not after stable \(stableIndex)")
        // Contiguity is kept by every change (`append` checks each index), and checked once on recovery.
    }
}
