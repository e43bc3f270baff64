/// The leader's view of one follower's log.
///
/// Invariant: `matchIndex < nextIndex`.
struct Progress: Sendable {
    enum State: Hashable, Sendable {
        /// Unsure where the follower's log ends: one append at a time until one is accepted.
        case probe
        /// Steady state: appends are pipelined optimistically, bounded by `inflights`.
        case replicate
        /// A snapshot is on its way; nothing else is sent until the follower reaches `snapshotIndex`.
        case snapshot(snapshotIndex: LogIndex)
    }

    var matchIndex: LogIndex = 0
    var nextIndex: LogIndex
    var state: State = .probe
    /// In probe state: an append is outstanding, so wait for its answer (or a heartbeat response).
    var probeSent = false
    var inflights: Inflights
    /// Whether the follower answered since the last CheckQuorum round.
    var recentlyActive = true
    /// Leader ticks since this follower last advanced its match. Appends or a snapshot lost in transit would
    /// stall a follower forever; after a while the leader probes it afresh.
    var ticksWithoutProgress = 0

    init(nextIndex: LogIndex, inflights: Inflights) {
        self.nextIndex = nextIndex
        self.inflights = inflights
    }

    var isPaused: Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflights.isFull
        case .snapshot: true
        }
    }

    mutating func becomeProbe() {
        if case .snapshot(let snapshotIndex) = state {
            nextIndex = max(matchIndex, snapshotIndex).advanced(by: 1)
        } else {
            nextIndex = matchIndex.advanced(by: 1)
        }
        state = .probe
        probeSent = false
        ticksWithoutProgress = 0
        inflights.reset()
    }

    /// Called on every leader tick. Returns whether the follower looks stalled and was reset to probing.
    mutating func tick(stallTicks: Int) -> Bool {
        ticksWithoutProgress += 1
        guard ticksWithoutProgress > stallTicks else { return false }
        switch state {
        case .replicate where inflights.count > 0, .snapshot:
            becomeProbe()
            return true
        case .probe, .replicate:
            return false
        }
    }

    mutating func becomeReplicate() {
        state = .replicate
        nextIndex = matchIndex.advanced(by: 1)
        probeSent = false
        inflights.reset()
    }

    mutating func becomeSnapshot(at index: LogIndex) {
        state = .snapshot(snapshotIndex: index)
        ticksWithoutProgress = 0
        probeSent = false
        inflights.reset()
    }

    /// Records that an append ending at `lastIndex` was sent.
    mutating func sent(lastIndex: LogIndex, bytes: Int) {
        switch state {
        case .replicate:
            if lastIndex >= nextIndex {
                nextIndex = lastIndex.advanced(by: 1)
                inflights.add(lastIndex: lastIndex, bytes: bytes)
            }
        case .probe: probeSent = true
        case .snapshot: preconditionFailure("no appends while a snapshot is in flight")
        }
    }

    /// The follower matches through `index`. Returns whether that was news.
    mutating func accept(matchIndex index: LogIndex) -> Bool {
        inflights.free(through: index)
        guard index > matchIndex else { return false }
        matchIndex = index
        ticksWithoutProgress = 0
        nextIndex = max(nextIndex, index.advanced(by: 1))
        probeSent = false
        return true
    }

    /// The follower rejected the append after `rejectedIndex`; back off to `nextIndex`. Returns false for a
    /// stale rejection (one that answers an append older than what is known).
    mutating func reject(rejectedIndex: LogIndex, nextIndex candidate: LogIndex) -> Bool {
        switch state {
        case .replicate:
            guard rejectedIndex > matchIndex else { return false }
            becomeProbe()
            nextIndex = max(matchIndex.advanced(by: 1), min(candidate, rejectedIndex))
            return true
        case .probe:
            guard rejectedIndex == nextIndex.advanced(by: -1) else { return false }
            nextIndex = max(matchIndex.advanced(by: 1), min(candidate, rejectedIndex))
            probeSent = false
            return true
        case .snapshot:
            return false
        }
    }
}

/// How far a follower has caught up, as its leader sees it: for status pages and lag reports.
public struct ReplicationStatus: Hashable, Sendable, CustomStringConvertible {
    public var matchIndex: LogIndex
    public var nextIndex: LogIndex
    public var state: String
    public var inflightAppends: Int

    public var description: String { "\(state) match \(matchIndex) next \(nextIndex) inflight \(inflightAppends)" }
}

extension Progress {
    var status: ReplicationStatus {
        let name: String
        switch state {
        case .probe: name = probeSent ? "probe(sent)" : "probe"
        case .replicate: name = "replicate"
        case .snapshot(let index): name = "snapshot(\(index))"
        }
        return ReplicationStatus(matchIndex: matchIndex, nextIndex: nextIndex, state: name, inflightAppends: inflights.count)
    }
}
