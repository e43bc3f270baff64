import Testing

@testable import QuorumConsensus

@Suite("RaftLog")
struct RaftLogTests {
    /// `[1@1, 2@1, 3@2, 4@2, 5@3]`, all durable, committed through `commit`.
    static func log(commit: LogIndex = 0) -> RaftLog {
        RaftLog(baseIndex: 0, baseTerm: 0, entries: entries(terms: [1, 1, 2, 2, 3]), commitIndex: commit)
    }

    @Test("term(at:) answers for the base and the entries, nil outside")
    func termLookup() {
        var log = Self.log(commit: 4)
        #expect(log.term(at: 0) == 0)
        #expect(log.term(at: 3) == 2)
        #expect(log.term(at: 5) == 3)
        #expect(log.term(at: 6) == nil)
        log.markApplied(through: 4)
        log.compact(through: 3)
        #expect(log.term(at: 2) == nil)
        #expect(log.term(at: 3) == 2)
        #expect(log.firstIndex == 4)
        #expect(log.lastIndex == 5)
        log.checkInvariants()
    }

    @Test(
        "§5.4.1 isUpToDate compares last terms first, then lengths (this log ends at 5@3)",
        arguments: [
            (Term(2), LogIndex(9), false), (3, 4, false), (3, 5, true), (3, 6, true), (2, 5, false), (4, 1, true),
        ])
    func upToDate(term: Term, index: LogIndex, expected: Bool) {
        #expect(Self.log().isUpToDate(lastIndex: index, lastTerm: term) == expected)
    }

    @Test(
        "the backtracking hint is the newest index at or below the rejected one with a term no newer than asked",
        arguments: [
            (LogIndex(5), Term(3), LogIndex(5)), (5, 2, 4), (5, 1, 2), (5, 0, 0), (3, 2, 3), (9, 2, 4), (2, 9, 2),
        ])
    func backtrackingHint(index: LogIndex, term: Term, expected: LogIndex) {
        #expect(Self.log().lastIndex(atOrBelow: index, withTermAtMost: term) == expected)
    }

    @Test("entries(from:through:bytesMax:) cuts at the byte budget but always returns at least one entry")
    func sliceByBytes() {
        let log = Self.log()
        // Each one-byte command entry encodes to 22 + 1 = 23 bytes.
        #expect(log.entry(at: 1).encodedBytes == 23)
        #expect(log.entries(from: 1, through: 5, bytesMax: 46).map(\.index) == [1, 2])
        #expect(log.entries(from: 1, through: 5, bytesMax: 45).map(\.index) == [1])
        #expect(log.entries(from: 2, through: 5, bytesMax: 1).map(\.index) == [2])
        #expect(log.entries(from: 3, through: 2).isEmpty)
        #expect(log.entries(from: 1, through: 5).count == 5)
    }

    @Test("§5.3 appendFromLeader skips entries it already has and truncates only at a real conflict")
    func appendFromLeader() {
        var log = Self.log(commit: 2)
        let result1 = log.appendFromLeader(after: 1, entries(terms: [1, 2], from: 2))
        #expect(result1 == 3)
        #expect(log.lastIndex == 5, "a duplicate truncates nothing")
        #expect(!log.hasUnpersisted)
        let result2 = log.appendFromLeader(after: 3, entries(terms: [4, 4, 4], from: 4))
        #expect(result2 == 6)
        #expect(log.lastIndex == 6)
        #expect(log.term(at: 4) == 4)
        #expect(log.stableIndex == 3, "the replaced entries are no longer durable")
        let result3 = log.takeUnpersisted()
        #expect(result3.map(\.index) == [4, 5, 6])
        log.checkInvariants()
    }

    @Test("§5.4 appendFromLeader refuses, changing nothing, entries that conflict with a committed one")
    func appendConflictingWithCommit() {
        var log = Self.log(commit: 3)
        let result4 = log.appendFromLeader(after: 1, entries(terms: [1, 3], from: 2))
        #expect(result4 == nil)
        #expect(log.lastIndex == 5)
        #expect(log.term(at: 3) == 2)
        #expect(!log.hasUnpersisted)
    }

    @Test("markStable ignores an acknowledgement for entries a truncation has since replaced")
    func markStableAfterTruncation() {
        var log = RaftLog(baseIndex: 0, baseTerm: 0, entries: [], commitIndex: 0)
        log.append(Entry(term: 1, index: 1, kind: .noop))
        log.append(Entry(term: 1, index: 2, kind: .noop))
        let result5 = log.takeUnpersisted()
        #expect(result5.count == 2)
        // Before the write completes, a new leader replaces entry 2.
        _ = log.appendFromLeader(after: 1, [Entry(term: 2, index: 2, kind: .noop)])
        log.markStable(through: 2, term: 1)
        #expect(log.stableIndex == 0, "the acknowledged 2@1 is gone; 2@2 is not yet written")
        let result6 = log.takeUnpersisted()
        #expect(result6.map(\.term) == [2])
        log.markStable(through: 2, term: 2)
        #expect(log.stableIndex == 2)
    }

    @Test("only committed and durable entries become applicable")
    func applicableNeedsCommitAndDurability() {
        var log = RaftLog(baseIndex: 0, baseTerm: 0, entries: [], commitIndex: 0)
        for index in 1...3 as ClosedRange<UInt64> { log.append(Entry(term: 1, index: LogIndex(index), kind: .noop)) }
        log.commit(through: 3)
        #expect(log.applicableRange == nil)
        _ = log.takeUnpersisted()
        log.markStable(through: 2, term: 1)
        #expect(log.applicableRange == 1...2)
        log.markApplied(through: 2)
        #expect(log.applicableRange == nil)
    }

    @Test("commit never moves backwards")
    func commitIsMonotonic() {
        var log = Self.log(commit: 4)
        log.commit(through: 2)
        #expect(log.commitIndex == 4)
    }

    @Test("§7 restore replaces the whole log with the snapshot's base")
    func restore() {
        var log = Self.log(commit: 2)
        log.restore(
            Snapshot(lastIncludedIndex: 10, lastIncludedTerm: 4, configuration: Configuration(voters: [1]), data: []))
        #expect(log.firstIndex == 11)
        #expect(log.lastIndex == 10)
        #expect(log.lastTerm == 4)
        #expect(log.commitIndex == 10)
        #expect(log.appliedIndex == 10)
        #expect(log.applicableRange == nil)
        log.checkInvariants()
    }
}

@Suite("Inflights and Progress")
struct InflightsTests {
    @Test("Inflights is full at its message cap and frees everything acknowledged")
    func messageCap() {
        var inflights = Inflights(messagesMax: 3, bytesMax: 1000)
        inflights.add(lastIndex: 2, bytes: 10)
        inflights.add(lastIndex: 5, bytes: 10)
        #expect(!inflights.isFull)
        inflights.add(lastIndex: 7, bytes: 10)
        #expect(inflights.isFull)
        inflights.free(through: 4)
        #expect(inflights.count == 2)
        #expect(inflights.bytes == 20)
        #expect(!inflights.isFull)
        inflights.free(through: 7)
        #expect(inflights.count == 0)
        #expect(inflights.bytes == 0)
    }

    @Test("Inflights is full once its byte budget is reached")
    func byteCap() {
        var inflights = Inflights(messagesMax: 100, bytesMax: 100)
        inflights.add(lastIndex: 1, bytes: 60)
        #expect(!inflights.isFull)
        inflights.add(lastIndex: 2, bytes: 40)
        #expect(inflights.isFull)
        inflights.reset()
        #expect(!inflights.isFull && inflights.count == 0 && inflights.bytes == 0)
    }

    static func progress() -> Progress {
        Progress(nextIndex: 11, inflights: Inflights(messagesMax: 4, bytesMax: 1 << 20))
    }

    @Test("a probing follower gets one append at a time until it answers")
    func probeSendsOneAtATime() {
        var progress = Self.progress()
        #expect(!progress.isPaused)
        progress.sent(lastIndex: 12, bytes: 10)
        #expect(progress.isPaused)
        #expect(progress.nextIndex == 11, "a probe does not advance nextIndex optimistically")
        let result7 = progress.accept(matchIndex: 12)
        #expect(result7)
        progress.becomeReplicate()
        #expect(progress.nextIndex == 13)
        #expect(!progress.isPaused)
    }

    @Test("§5.3 a rejection in replicate state falls back to probing from the hint; a stale one is ignored")
    func rejection() {
        var progress = Self.progress()
        _ = progress.accept(matchIndex: 5)
        progress.becomeReplicate()
        progress.sent(lastIndex: 8, bytes: 10)
        progress.sent(lastIndex: 10, bytes: 10)
        #expect(progress.nextIndex == 11)
        let result8 = progress.reject(rejectedIndex: 5, nextIndex: 3)
        #expect(!result8, "at or below the match: stale")
        let result9 = progress.reject(rejectedIndex: 8, nextIndex: 7)
        #expect(result9)
        #expect(progress.state == .probe)
        #expect(progress.nextIndex == 7)
        #expect(progress.inflights.count == 0)
        // A hint below the match never moves nextIndex below match + 1.
        let result10 = progress.reject(rejectedIndex: 6, nextIndex: 2)
        #expect(result10)
        #expect(progress.nextIndex == 6)
    }

    @Test("a stalled follower in replicate state with appends outstanding is reset to probing")
    func stallDetection() {
        var progress = Self.progress()
        _ = progress.accept(matchIndex: 10)
        progress.becomeReplicate()
        progress.sent(lastIndex: 12, bytes: 10)
        for _ in 0..<10 {
            let stalled = progress.tick(stallTicks: 10)
            #expect(!stalled)
        }
        let result11 = progress.tick(stallTicks: 10)
        #expect(result11)
        #expect(progress.state == .probe)
        #expect(progress.nextIndex == 11)
    }

    @Test("§7 a follower receiving a snapshot is paused until it reaches the snapshot")
    func snapshotState() {
        var progress = Self.progress()
        progress.becomeSnapshot(at: 20)
        #expect(progress.isPaused)
        let result12 = progress.reject(rejectedIndex: 15, nextIndex: 3)
        #expect(!result12)
        let result13 = progress.accept(matchIndex: 20)
        #expect(result13)
        #expect(progress.nextIndex == 21)
    }
}
