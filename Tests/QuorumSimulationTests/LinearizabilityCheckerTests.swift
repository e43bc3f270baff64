import QuorumConsensus
import Testing

@testable import QuorumSimulation

// MARK: - Accepted histories

@Test("an empty history is linearizable")
func emptyHistoryIsLinearizable() {
    #expect(LinearizabilityChecker().check([]) == .linearizable)
}

@Test("a sequential history of puts and gets is accepted")
func sequentialHistoryIsAccepted() {
    let history = [
        get(returning: nil, at: 0...1),
        put(1, at: 2...3),
        get(returning: 1, at: 4...5),
        put(2, at: 6...7),
        get(returning: 2, at: 8...9),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("a read overlapping two concurrent writes may see either value or the initial absence", arguments: [nil, 1, 2])
func readDuringConcurrentWritesMaySeeEither(observed: Int?) {
    let history = [
        put(1, client: 0, at: 0...10),
        put(2, client: 1, at: 2...12),
        get(returning: observed, client: 2, at: 5...8),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("after two concurrent writes complete, reads agree on one winner")
func readsAfterConcurrentWritesAgree() {
    let consistent = [
        put(1, client: 0, at: 0...10),
        put(2, client: 1, at: 0...10),
        get(returning: 1, client: 2, at: 11...12),
        get(returning: 1, client: 3, at: 13...14),
    ]
    let flipFlopping = [
        put(1, client: 0, at: 0...10),
        put(2, client: 1, at: 0...10),
        get(returning: 1, client: 2, at: 11...12),
        get(returning: 2, client: 3, at: 13...14),
    ]
    #expect(LinearizabilityChecker().check(consistent) == .linearizable)
    #expect(LinearizabilityChecker().check(flipFlopping).isNotLinearizable)
}

@Test("successful and failed compare-and-set operations are accepted")
func compareAndSetSuccessAndFailureAreAccepted() {
    let history = [
        compareAndSet(expected: nil, new: 1, swapped: true, at: 0...1),
        compareAndSet(expected: nil, new: 9, swapped: false, at: 2...3),
        compareAndSet(expected: 1, new: 2, swapped: true, at: 4...5),
        get(returning: 2, at: 6...7),
        compareAndSet(expected: 1, new: 5, swapped: false, at: 8...9),
        get(returning: 2, at: 10...11),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("of two concurrent compare-and-sets from the same value, one may win")
func concurrentCompareAndSetsOneWins() {
    let history = [
        put(0, at: 0...1),
        compareAndSet(expected: 0, new: 1, swapped: false, client: 1, at: 2...10),
        compareAndSet(expected: 0, new: 2, swapped: true, client: 2, at: 3...9),
        get(returning: 2, client: 3, at: 11...12),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("an unknown-outcome put whose effect a later read observes is accepted")
func unknownOutcomePutObservedLaterIsAccepted() {
    let history = [
        put(1, client: 0, at: 0...5),
        pendingPut(2, client: 1, invokedAt: 10),
        get(returning: 1, client: 2, at: 20...25),
        get(returning: 2, client: 2, at: 30...35),
        get(returning: 2, client: 0, at: 40...45),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("an unknown-outcome put that is never observed is accepted")
func unknownOutcomePutNeverObservedIsAccepted() {
    let history = [
        put(1, client: 0, at: 0...5),
        pendingPut(2, client: 1, invokedAt: 10),
        get(returning: 1, client: 2, at: 20...25),
        get(returning: 1, client: 2, at: 30...35),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("an unknown-outcome put may take effect long after it was invoked")
func unknownOutcomePutMayTakeEffectLate() {
    // The only linearization is put(2), put(1), get -> 1, put(3), then the pending put(1), then
    // get -> 1. Placing the pending put early (right after the completed puts) looks promising
    // but fails, and the search must still come back and place it late.
    let history = [
        put(1, client: 0, at: 0...10),
        put(2, client: 1, at: 0...10),
        pendingPut(1, client: 2, invokedAt: 0),
        get(returning: 1, client: 0, at: 15...16),
        put(3, client: 0, at: 20...25),
        get(returning: 1, client: 1, at: 30...35),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("an unknown-outcome compare-and-set may or may not have taken effect", arguments: [nil, 5])
func unknownOutcomeCompareAndSetMayTakeEffect(observed: Int?) {
    let history = [
        pendingCompareAndSet(expected: nil, new: 5, client: 0, invokedAt: 0),
        get(returning: observed, client: 1, at: 10...11),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("an unknown-outcome get constrains nothing")
func unknownOutcomeGetIsIgnored() {
    let history = [
        put(1, at: 0...1),
        pendingGet(client: 1, invokedAt: 2),
        get(returning: 1, at: 3...4),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("operations that meet at one tick count as concurrent")
func operationsMeetingAtOneTickAreConcurrent() {
    // The put completes at the tick the get is invoked: equal virtual times do not order them.
    let history = [
        put(1, client: 0, at: 0...10),
        get(returning: nil, client: 1, at: 10...20),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)

    let oneTickLater = [
        put(1, client: 0, at: 0...10),
        get(returning: nil, client: 1, at: 11...20),
    ]
    #expect(LinearizabilityChecker().check(oneTickLater).isNotLinearizable)
}

@Test("the order of operations in the input does not matter")
func inputOrderDoesNotMatter() {
    let history = [
        get(returning: 2, client: 2, at: 8...9),
        put(2, client: 1, at: 4...5),
        put(1, client: 0, at: 0...1),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

// MARK: - Rejected histories

@Test("a stale read after a completed write is rejected")
func staleReadIsRejected() {
    let history = [
        put(1, client: 0, at: 0...5),
        put(2, client: 0, at: 10...15),
        get(returning: 1, client: 1, at: 20...25),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("a completed write that later reads never see is rejected")
func lostWriteIsRejected() {
    let history = [
        put(7, client: 0, at: 0...5),
        get(returning: nil, client: 1, at: 10...15),
        get(returning: nil, client: 2, at: 20...25),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("a read of a value that was never written is rejected")
func readOfNeverWrittenValueIsRejected() {
    let history = [
        put(1, client: 0, at: 0...10),
        put(2, client: 1, at: 0...10),
        get(returning: 3, client: 2, at: 5...15),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("a compare-and-set that reports success against a different value is rejected")
func compareAndSetFalseSuccessIsRejected() {
    let history = [
        put(1, at: 0...5),
        compareAndSet(expected: 2, new: 3, swapped: true, at: 10...15),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("a compare-and-set that reports failure against the expected value is rejected")
func compareAndSetFalseFailureIsRejected() {
    let history = [
        put(1, at: 0...5),
        compareAndSet(expected: 1, new: 3, swapped: false, at: 10...15),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("a compare-and-set from absent fails once a value exists")
func compareAndSetFromAbsentFailsWhenPresent() {
    let history = [
        put(1, at: 0...5),
        compareAndSet(expected: nil, new: 3, swapped: true, at: 10...15),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("two reads that see values in an order inconsistent with real time are rejected")
func newOldInversionIsRejected() {
    // Once one read has seen the new value, a read that starts later may not see the old one.
    let history = [
        put(1, client: 0, at: 0...100),
        get(returning: 1, client: 1, at: 10...20),
        get(returning: nil, client: 2, at: 30...40),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("an unknown-outcome put cannot take effect before it was invoked")
func unknownOutcomePutCannotActEarly() {
    let history = [
        get(returning: 2, client: 0, at: 0...5),
        pendingPut(2, client: 1, invokedAt: 10),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("an unknown-outcome put, once observed, cannot be undone")
func unknownOutcomePutCannotBeUndone() {
    let history = [
        put(1, client: 0, at: 0...5),
        pendingPut(2, client: 1, invokedAt: 10),
        get(returning: 2, client: 2, at: 20...25),
        get(returning: 1, client: 2, at: 30...35),
    ]
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

@Test("the explanation shows the longest linearizable prefix and the operation that could not be placed")
func explanationIsReadable() throws {
    let history = [
        put(1, client: 0, at: 0...5),
        put(2, client: 0, at: 10...15),
        get(returning: 1, client: 1, at: 20...25),
    ]
    let verdict = LinearizabilityChecker().check(history)
    guard case .notLinearizable(let key, let explanation) = verdict else {
        Issue.record("expected a rejection, got \(verdict)")
        return
    }
    #expect(key == "x")
    #expect(explanation.contains("(2 operations), leaving the register holding 2"))
    #expect(explanation.contains("1. client 0 put(1) [t=0...5] -> ok"))
    #expect(explanation.contains("2. client 0 put(2) [t=10...15] -> ok"))
    #expect(explanation.contains("client 1 get [t=20...25] -> 1 (here it would have returned 2)"))
    #expect(verdict.description.hasPrefix("not linearizable (key \"x\"): "))
}

// MARK: - Several keys

@Test("one bad key makes a multi-key history fail, and the verdict names that key")
func oneBadKeyFailsTheWholeHistory() {
    let history = [
        put(1, key: "a", at: 0...1),
        put(1, key: "b", at: 0...1),
        put(1, key: "c", at: 0...1),
        get(returning: 1, key: "a", at: 2...3),
        get(returning: 5, key: "b", at: 2...3),
        get(returning: 1, key: "c", at: 2...3),
    ]
    guard case .notLinearizable(let key, _) = LinearizabilityChecker().check(history) else {
        Issue.record("expected a rejection")
        return
    }
    #expect(key == "b")
}

@Test("with several bad keys the verdict names the first in key order")
func firstBadKeyInKeyOrderIsReported() {
    let history = [
        get(returning: 5, key: "zebra", at: 0...1),
        get(returning: 5, key: "apple", at: 0...1),
        get(returning: 5, key: "mango", at: 0...1),
    ]
    guard case .notLinearizable(let key, _) = LinearizabilityChecker().check(history) else {
        Issue.record("expected a rejection")
        return
    }
    #expect(key == "apple")
}

@Test("operations on different keys do not constrain each other")
func keysAreIndependent() {
    // On one register this would be a stale read; on two it is fine.
    let history = [
        put(1, key: "a", at: 0...5),
        put(2, key: "b", at: 10...15),
        get(returning: 1, key: "a", at: 20...25),
        get(returning: 2, key: "b", at: 20...25),
    ]
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

// MARK: - Search budget

@Test("a tiny state budget on a large concurrent history yields unknown")
func tinyBudgetYieldsUnknown() {
    var generator = SplitMix64(seed: 7)
    let history = makeLinearizableHistory(
        using: &generator, clientCount: 5, operationsPerClient: 20, keys: ["x"], pendingChance: 0
    )
    #expect(LinearizabilityChecker().check(history) == .linearizable)

    let verdict = LinearizabilityChecker(stateBudgetPerKey: 10).check(history)
    guard case .unknown(let key, let reason) = verdict else {
        Issue.record("expected unknown, got \(verdict)")
        return
    }
    #expect(key == "x")
    #expect(reason.contains("10 search states"))
}

@Test("a non-linearizable key outranks a key whose search ran out of budget")
func nonLinearizableOutranksUnknown() {
    var generator = SplitMix64(seed: 8)
    var history = makeLinearizableHistory(
        using: &generator, clientCount: 5, operationsPerClient: 20, keys: ["a"], pendingChance: 0
    )
    history.append(get(returning: 5, key: "b", at: 0...1))
    let verdict = LinearizabilityChecker(stateBudgetPerKey: 20).check(history)
    guard case .notLinearizable(let key, _) = verdict else {
        Issue.record("expected a rejection, got \(verdict)")
        return
    }
    #expect(key == "b")
}

@Test("a 200-operation history with five concurrent clients is accepted within the default budget")
func largeHistoryIsAccepted() {
    var generator = SplitMix64(seed: 2024)
    let history = makeLinearizableHistory(
        using: &generator, clientCount: 5, operationsPerClient: 40, keys: ["x"], pendingChance: 0.05
    )
    #expect(history.count == 200)
    #expect(LinearizabilityChecker().check(history) == .linearizable)
}

@Test("a 200-operation history with one corrupted read is rejected within the default budget")
func largeCorruptedHistoryIsRejected() throws {
    var generator = SplitMix64(seed: 2025)
    var history = makeLinearizableHistory(
        using: &generator, clientCount: 5, operationsPerClient: 40, keys: ["x"], pendingChance: 0.02
    )
    let reads = history.indices.filter { history[$0].operation == .get && history[$0].result != nil }
    let corrupted = try #require(reads.randomElement(using: &generator))
    history[corrupted].result = .value(neverWrittenValue)
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

/// A key as a real cluster under faults leaves it: clients that overlap freely, and one client cut off by a
/// partition whose puts all time out, with values that nobody reads back.
private func historyWithUnreadTimedOutPuts(seed: UInt64) -> [HistoryOperation] {
    var generator = SplitMix64(seed: seed)
    var history = makeLinearizableHistory(
        using: &generator, clientCount: 3, operationsPerClient: 400, keys: ["x"], pendingChance: 0
    )
    let end = history.compactMap(\.completedAt).max() ?? 0
    let timedOut = 150
    for index in 0..<timedOut {
        history.append(
            HistoryOperation(
                client: 3, key: "x", operation: .put(neverWrittenValue + 1 + index),
                invokedAt: UInt64(index) * end / UInt64(timedOut), completedAt: nil, result: nil))
    }
    return history
}

@Test("a long history whose timed-out puts nobody read is decided within the default budget")
func unreadTimedOutPutsAreDecided() {
    #expect(LinearizabilityChecker().check(historyWithUnreadTimedOutPuts(seed: 31)) == .linearizable)
}

@Test("a read of a value nobody wrote is still found among many timed-out puts nobody read")
func corruptedReadAmongUnreadTimedOutPutsIsRejected() throws {
    var history = historyWithUnreadTimedOutPuts(seed: 32)
    var generator = SplitMix64(seed: 32)
    let reads = history.indices.filter { history[$0].operation == .get && history[$0].result != nil }
    let corrupted = try #require(reads.randomElement(using: &generator))
    history[corrupted].result = .value(neverWrittenValue)
    #expect(LinearizabilityChecker().check(history).isNotLinearizable)
}

// MARK: - Randomized tests

@Test("random histories generated from a sequential register are accepted", arguments: 0..<300 as Range<UInt64>)
func randomLinearizableHistoriesAreAccepted(seed: UInt64) {
    var generator = SplitMix64(seed: seed)
    let history = makeLinearizableHistory(
        using: &generator,
        clientCount: Int.random(in: 1...4, using: &generator),
        operationsPerClient: Int.random(in: 1...8, using: &generator),
        keys: Array(["x", "y"].prefix(Int.random(in: 1...2, using: &generator))),
        pendingChance: 0.1
    )
    let verdict = LinearizabilityChecker().check(history)
    #expect(verdict == .linearizable, "seed \(seed): \(verdict)")
}

@Test(
    "random histories with one read changed to a never-written value are rejected",
    arguments: 0..<300 as Range<UInt64>
)
func randomHistoriesWithCorruptedReadAreRejected(seed: UInt64) {
    var generator = SplitMix64(seed: seed)
    var history = makeLinearizableHistory(
        using: &generator,
        clientCount: Int.random(in: 1...4, using: &generator),
        operationsPerClient: Int.random(in: 2...8, using: &generator),
        keys: Array(["x", "y"].prefix(Int.random(in: 1...2, using: &generator))),
        pendingChance: 0.1
    )
    let reads = history.indices.filter { history[$0].operation == .get && history[$0].result != nil }
    guard let corrupted = reads.randomElement(using: &generator) else { return }
    history[corrupted].result = .value(neverWrittenValue)

    let verdict = LinearizabilityChecker().check(history)
    guard case .notLinearizable(let key, _) = verdict else {
        Issue.record("seed \(seed): expected a rejection, got \(verdict)")
        return
    }
    #expect(key == history[corrupted].key, "seed \(seed)")
}

@Test("the checker agrees with a brute-force search on small random histories")
func checkerAgreesWithBruteForce() {
    var generator = SplitMix64(seed: 42)
    var acceptedCount = 0
    var rejectedCount = 0
    for round in 0..<10_000 {
        let history = makeArbitraryHistory(using: &generator, operationCount: Int.random(in: 1...8, using: &generator))
        let expected = bruteForceIsLinearizable(history)
        let verdict = LinearizabilityChecker().check(history)
        #expect((verdict == .linearizable) == expected, "round \(round): \(history) -> \(verdict)")
        #expect(verdict == .linearizable || verdict.isNotLinearizable, "round \(round): \(verdict)")
        if expected { acceptedCount += 1 } else { rejectedCount += 1 }
    }
    // Both answers must be well represented, or the comparison proves little.
    #expect(acceptedCount > 1_000)
    #expect(rejectedCount > 1_000)
}

// MARK: - Building histories

private func put(_ value: Int, client: Int = 0, key: String = "x", at span: ClosedRange<UInt64>) -> HistoryOperation {
    HistoryOperation(
        client: client, key: key, operation: .put(value),
        invokedAt: span.lowerBound, completedAt: span.upperBound, result: .ok
    )
}

private func get(returning value: Int?, client: Int = 0, key: String = "x", at span: ClosedRange<UInt64>)
    -> HistoryOperation
{
    HistoryOperation(
        client: client, key: key, operation: .get,
        invokedAt: span.lowerBound, completedAt: span.upperBound, result: .value(value)
    )
}

private func compareAndSet(
    expected: Int?, new: Int, swapped: Bool, client: Int = 0, key: String = "x", at span: ClosedRange<UInt64>
) -> HistoryOperation {
    HistoryOperation(
        client: client, key: key, operation: .compareAndSet(expected: expected, new: new),
        invokedAt: span.lowerBound, completedAt: span.upperBound, result: .swapped(swapped)
    )
}

private func pendingPut(_ value: Int, client: Int, key: String = "x", invokedAt: UInt64) -> HistoryOperation {
    HistoryOperation(
        client: client, key: key, operation: .put(value), invokedAt: invokedAt, completedAt: nil, result: nil
    )
}

private func pendingGet(client: Int, key: String = "x", invokedAt: UInt64) -> HistoryOperation {
    HistoryOperation(client: client, key: key, operation: .get, invokedAt: invokedAt, completedAt: nil, result: nil)
}

private func pendingCompareAndSet(expected: Int?, new: Int, client: Int, key: String = "x", invokedAt: UInt64)
    -> HistoryOperation
{
    HistoryOperation(
        client: client, key: key, operation: .compareAndSet(expected: expected, new: new),
        invokedAt: invokedAt, completedAt: nil, result: nil
    )
}

extension LinearizabilityVerdict {
    fileprivate var isNotLinearizable: Bool {
        if case .notLinearizable = self { return true }
        return false
    }
}

/// Generated histories write only values in `0..<writtenValueCount`, so this one never appears.
private let neverWrittenValue = 1_000
private let writtenValueCount = 4

/// The register's sequential specification, written again here so the brute-force oracle does
/// not share code with the checker it judges.
private func sequentialRegister(_ operation: KVOperation, on value: Int?) -> (value: Int?, result: KVResult) {
    switch operation {
    case .get: (value, .value(value))
    case .put(let written): (written, .ok)
    case .compareAndSet(let expected, let new): expected == value ? (new, .swapped(true)) : (value, .swapped(false))
    case .delete: (nil, .ok)
    }
}

private func randomOperation(using generator: inout SplitMix64) -> KVOperation {
    let value = Int.random(in: 0..<writtenValueCount, using: &generator)
    switch Int.random(in: 0..<10, using: &generator) {
    case 0..<4:
        return .get
    case 4..<6:
        return .put(value)
    case 6:
        return .delete
    default:
        let expected: Int? =
            Bool.random(using: &generator) ? nil : Int.random(in: 0..<writtenValueCount, using: &generator)
        return .compareAndSet(expected: expected, new: value)
    }
}

/// Builds a history that is linearizable by construction: every operation gets a linearization
/// point inside its interval, and the results come from applying the operations to a sequential
/// register in the order of those points. An operation whose outcome is made unknown either
/// takes effect at its point or never.
private func makeLinearizableHistory(
    using generator: inout SplitMix64,
    clientCount: Int,
    operationsPerClient: Int,
    keys: [String],
    pendingChance: Double
) -> [HistoryOperation] {
    struct PlannedOperation {
        var operation: HistoryOperation
        var linearizedAt: UInt64
        var takesEffect: Bool
    }
    var planned: [PlannedOperation] = []
    for client in 0..<clientCount {
        // Each client issues its operations one after another; clients overlap freely.
        var clientTime = UInt64.random(in: 0...3, using: &generator)
        for _ in 0..<operationsPerClient {
            let invokedAt = clientTime + UInt64.random(in: 0...3, using: &generator)
            let linearizedAt = invokedAt + UInt64.random(in: 0...4, using: &generator)
            let completedAt = linearizedAt + UInt64.random(in: 0...4, using: &generator)
            let isPending = Double.random(in: 0..<1, using: &generator) < pendingChance
            let operation = HistoryOperation(
                client: client,
                key: keys[Int.random(in: 0..<keys.count, using: &generator)],
                operation: randomOperation(using: &generator),
                invokedAt: invokedAt,
                completedAt: isPending ? nil : completedAt,
                result: nil
            )
            planned.append(
                PlannedOperation(
                    operation: operation,
                    linearizedAt: linearizedAt,
                    takesEffect: !isPending || Bool.random(using: &generator)
                )
            )
            clientTime = completedAt + 1
        }
    }

    // If A completes before B is invoked then A's point is strictly before B's, so any order
    // among equal points respects real time; break ties by position for determinism.
    let linearizationOrder = planned.indices.sorted {
        (planned[$0].linearizedAt, $0) < (planned[$1].linearizedAt, $1)
    }
    var registers: [String: Int] = [:]
    for index in linearizationOrder where planned[index].takesEffect {
        let key = planned[index].operation.key
        let (valueAfter, result) = sequentialRegister(planned[index].operation.operation, on: registers[key])
        registers[key] = valueAfter
        if planned[index].operation.completedAt != nil { planned[index].operation.result = result }
    }
    return planned.map(\.operation)
}

/// Builds a small single-key history with arbitrary (often impossible) results, crowded into a
/// few ticks so that operations overlap and touch.
private func makeArbitraryHistory(using generator: inout SplitMix64, operationCount: Int) -> [HistoryOperation] {
    (0..<operationCount).map { client in
        let operation = randomOperation(using: &generator)
        let invokedAt = UInt64.random(in: 0...10, using: &generator)
        if Int.random(in: 0..<4, using: &generator) == 0 {
            return HistoryOperation(
                client: client, key: "x", operation: operation, invokedAt: invokedAt, completedAt: nil, result: nil
            )
        }
        let result: KVResult
        switch operation {
        case .get:
            let observed: Int? = Int.random(in: -1..<3, using: &generator)
            result = .value(observed == -1 ? nil : observed)
        case .put, .delete:
            result = .ok
        case .compareAndSet:
            result = .swapped(Bool.random(using: &generator))
        }
        return HistoryOperation(
            client: client, key: "x", operation: operation, invokedAt: invokedAt,
            completedAt: invokedAt + UInt64.random(in: 0...4, using: &generator), result: result
        )
    }
}

/// Tries every order: an operation may go next unless another remaining operation completed
/// strictly before it was invoked. Operations with unknown outcome may be left out.
private func bruteForceIsLinearizable(_ history: [HistoryOperation]) -> Bool {
    func search(remaining: [Int], value: Int?) -> Bool {
        if remaining.allSatisfy({ history[$0].completedAt == nil }) { return true }
        for candidate in remaining {
            let mustWait = remaining.contains { other in
                guard let otherCompletedAt = history[other].completedAt else { return false }
                return other != candidate && otherCompletedAt < history[candidate].invokedAt
            }
            if mustWait { continue }
            let (valueAfter, result) = sequentialRegister(history[candidate].operation, on: value)
            if let observed = history[candidate].result, observed != result { continue }
            if search(remaining: remaining.filter { $0 != candidate }, value: valueAfter) { return true }
        }
        return false
    }
    return search(remaining: Array(history.indices), value: nil)
}
