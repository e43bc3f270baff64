import QuorumConsensus

/// Raft's safety properties (Raft §5.4, Figure 3), checked as the simulation runs:
/// - election safety: at most one leader per term;
/// - log matching: two entries with the same index and term are the same entry, with the same predecessor;
/// - leader completeness: a new leader holds every entry any node has committed or applied;
/// - state machine safety: every node applies the same entry at each index.
/// The first violation is kept, with the virtual time it happened at.
///
/// For Multi-Paxos (`checksRaftLogs` false) the checks that fit are kept: election safety becomes at most one leader
/// per round (one proposer per round, which Multi-Paxos's ballots guarantee), state machine safety is unchanged, and
/// `recordChosen` checks that at most one value is chosen per slot. Log matching and leader completeness are Raft's
/// own: a Multi-Paxos acceptor stores each slot in the round it accepted it, which differs between acceptors, and a
/// new leader learns chosen slots in phase 1 rather than holding them when it takes over.
final class SafetyChecker {
    private(set) var violation: String?
    var now: UInt64 = 0
    let checksRaftLogs: Bool
    /// Multi-Paxos: the value some node learned was chosen at each slot.
    private var chosenValues: [LogIndex: Entry] = [:]

    init(checksRaftLogs: Bool = true) {
        self.checksRaftLogs = checksRaftLogs
    }

    private var leaderByTerm: [Term: NodeID] = [:]
    private var entriesByPosition: [EntryPosition: (kind: Entry.Kind, previousTerm: Term?)] = [:]
    private(set) var appliedEntries: [LogIndex: Entry] = [:]
    /// Terms of entries some node has seen committed; a commit is a promise no later leader may break.
    private var committedTerms: [LogIndex: Term] = [:]
    private(set) var highestCommitted: LogIndex = 0
    private var commitCheckedThrough: [NodeID: LogIndex] = [:]
    private(set) var highestApplied: LogIndex = 0
    private(set) var leaderElections = 0
    private(set) var membershipChangesApplied = 0

    private struct EntryPosition: Hashable {
        var index: LogIndex
        var term: Term
    }

    func fail(_ reason: String) {
        if violation == nil { violation = "at \(now) ms: \(reason)" }
    }

    /// Called when `node` is observed as leader of `term`; `isNew` when it was not leader of it before.
    func recordLeader(_ node: NodeID, term: Term, isNew: Bool, hasEntry: (LogIndex) -> Term?, firstIndex: LogIndex) {
        if let existing = leaderByTerm[term], existing != node {
            fail("election safety: \(existing) and \(node) both lead \(term)")
            return
        }
        leaderByTerm[term] = node
        guard isNew else { return }
        leaderElections += 1
        guard checksRaftLogs else { return }
        var index = max(firstIndex, 1)
        while index <= highestCommitted {
            if let committed = committedTerms[index], hasEntry(index) != committed {
                fail("leader completeness: new leader \(node) of \(term) lacks committed entry \(index)@\(committed)")
                return
            }
            index = index.advanced(by: 1)
        }
    }

    /// Checks that the configuration `leader` works with is at most one voter away from the one in force at the
    /// highest index any node committed: single-server changes keep every two successive majorities overlapping
    /// only while one change at a time is in flight (thesis §4.1).
    func recordLeaderConfiguration(
        _ configuration: Configuration, of leader: NodeID, lastIndex: LogIndex,
        configurationAt: (LogIndex) -> Configuration?
    ) {
        guard let settled = configurationAt(min(highestCommitted, lastIndex)) else { return }
        let changedVoters = configuration.voters.symmetricDifference(settled.voters)
        if changedVoters.count > 1 {
            fail(
                "membership: \(leader) works with voters \(configuration.voters.sorted()) while "
                    + "\(settled.voters.sorted()) is committed; \(changedVoters.sorted()) changed at once, so their "
                    + "majorities need not overlap")
        }
    }

    /// Records what `node` now considers committed, checking it against what others committed.
    func recordCommitted(through commitIndex: LogIndex, on node: NodeID, termAt: (LogIndex) -> Term?) {
        var index = (commitCheckedThrough[node] ?? 0).advanced(by: 1)
        guard index <= commitIndex else { return }
        while index <= commitIndex {
            if let term = termAt(index) {
                if let known = committedTerms[index], known != term {
                    fail("state machine safety: \(node) committed \(index)@\(term), another node \(index)@\(known)")
                    return
                }
                committedTerms[index] = term
            }
            index = index.advanced(by: 1)
        }
        commitCheckedThrough[node] = commitIndex
        highestCommitted = max(highestCommitted, commitIndex)
    }

    /// Checks entries as a node writes them: `previousTerm` is the term of the entry before the first one.
    func recordWritten(_ entries: [Entry], previousTerm: Term?, on node: NodeID) {
        guard checksRaftLogs else { return }
        var previous = previousTerm
        for entry in entries {
            let position = EntryPosition(index: entry.index, term: entry.term)
            if let known = entriesByPosition[position] {
                if known.kind != entry.kind {
                    fail("log matching: \(node) wrote \(entry) but another node has a different entry there")
                    return
                }
                if let knownPrevious = known.previousTerm, let previous, knownPrevious != previous {
                    fail(
                        "log matching: \(node) wrote \(entry) after term \(previous), elsewhere after \(knownPrevious)")
                    return
                }
                if known.previousTerm == nil && previous != nil { entriesByPosition[position] = (entry.kind, previous) }
            } else {
                entriesByPosition[position] = (entry.kind, previous)
            }
            previous = entry.term
        }
    }

    /// Multi-Paxos: records the values `node` now considers chosen (through its commit index), checking that no other
    /// node learned another value at the same slot.
    func recordChosen(through commitIndex: LogIndex, on node: NodeID, valueAt: (LogIndex) -> Entry?) {
        var slot = (commitCheckedThrough[node] ?? 0).advanced(by: 1)
        guard slot <= commitIndex else { return }
        while slot <= commitIndex {
            if let value = valueAt(slot) {
                if let known = chosenValues[slot], known != value {
                    fail(
                        "at most one value per slot: \(node) learned \(value) chosen where another node learned \(known)"
                    )
                    return
                }
                chosenValues[slot] = value
            }
            slot = slot.advanced(by: 1)
        }
        commitCheckedThrough[node] = commitIndex
        highestCommitted = max(highestCommitted, commitIndex)
    }

    /// Multi-Paxos: the value some node learned was chosen, or applied, at `slot`.
    func chosenValue(at slot: LogIndex) -> Entry? { appliedEntries[slot] ?? chosenValues[slot] }

    func recordApplied(_ entry: Entry, on node: NodeID) {
        if let known = appliedEntries[entry.index] {
            if known != entry { fail("state machine safety: \(node) applied \(entry) where others applied \(known)") }
            return
        }
        appliedEntries[entry.index] = entry
        highestApplied = max(highestApplied, entry.index)
        if let committed = committedTerms[entry.index], committed != entry.term {
            fail("state machine safety: \(node) applied \(entry) where \(entry.index)@\(committed) committed")
        }
        committedTerms[entry.index] = entry.term
        highestCommitted = max(highestCommitted, entry.index)
        if case .configurationChange = entry.kind { membershipChangesApplied += 1 }
    }
}

extension SafetyChecker {
    /// Checks what `node` holds committed (Raft) or chosen (Multi-Paxos) against every other node's.
    func recordProgress(of engine: SelectedEngine, on node: NodeID) {
        switch engine {
        case .raft: recordCommitted(through: engine.commitIndex, on: node, termAt: engine.term(at:))
        case .paxos: recordChosen(through: engine.commitIndex, on: node, valueAt: engine.paxosValue(at:))
        case .moved: preconditionFailure("engine in use")
        }
    }
}
