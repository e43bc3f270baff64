// A linearizability checker for key-value register histories, in the spirit of
// Wing & Gong (1993) with Lowe's memoization ("Testing for linearizability", 2017),
// as Porcupine and Knossos implement it.
//
// Linearizability is compositional (Herlihy & Wing 1990, §3.3): a history is linearizable
// if and only if each key's sub-history is. So the checker partitions the history by key
// and searches each key's operations independently, which keeps every search small.

/// An operation a client invokes on one key's register.
public enum KVOperation: Hashable, Sendable, Codable {
    /// Reads the current value; answered with ``KVResult/value(_:)``.
    case get
    /// Sets the value; answered with ``KVResult/ok``.
    case put(Int)
    /// Sets `new` if and only if the current value equals `expected` (`nil` means "absent");
    /// answered with ``KVResult/swapped(_:)``.
    case compareAndSet(expected: Int?, new: Int)
    /// Makes the register absent; answered with ``KVResult/ok``. The simulator's store worlds also record a
    /// lease's revocation as a delete of each key it removed.
    case delete
}

/// What a client observed when an operation completed.
public enum KVResult: Hashable, Sendable, Codable {
    /// The answer to ``KVOperation/get``: the value, or `nil` if the key was absent.
    case value(Int?)
    /// The answer to ``KVOperation/put(_:)`` and ``KVOperation/delete``.
    case ok
    /// The answer to ``KVOperation/compareAndSet(expected:new:)``: whether the swap happened.
    case swapped(Bool)
}

/// One client operation as the simulator recorded it: when it was invoked, and when and how it
/// completed, if it did.
public struct HistoryOperation: Hashable, Sendable, Codable {
    /// The client that issued the operation. Used only to explain a verdict.
    public var client: Int
    /// The register the operation acts on.
    public var key: String
    public var operation: KVOperation
    /// Virtual time at which the client sent the request.
    public var invokedAt: UInt64
    /// Virtual time at which the client saw the response, or `nil` if the outcome is unknown
    /// (the request timed out or the client crashed). An operation with an unknown outcome may
    /// have taken effect at any moment after `invokedAt`, or never.
    ///
    /// Invariant: `completedAt >= invokedAt`.
    public var completedAt: UInt64?
    /// The response the client saw. Invariant: `nil` if and only if `completedAt` is `nil`, and
    /// of the kind that matches `operation`.
    public var result: KVResult?

    public init(
        client: Int,
        key: String,
        operation: KVOperation,
        invokedAt: UInt64,
        completedAt: UInt64?,
        result: KVResult?
    ) {
        self.client = client
        self.key = key
        self.operation = operation
        self.invokedAt = invokedAt
        self.completedAt = completedAt
        self.result = result
    }
}

/// The outcome of ``LinearizabilityChecker/check(_:)``.
public enum LinearizabilityVerdict: Hashable, Sendable, CustomStringConvertible {
    /// Every key's history has a linearization.
    case linearizable
    /// The history of `key` has no linearization. `explanation` shows the longest linearizable
    /// prefix the search found and the operations that could not be placed after it.
    case notLinearizable(key: String, explanation: String)
    /// The search for `key` exceeded its state budget before reaching a verdict, and no key was
    /// found to be non-linearizable.
    case unknown(key: String, reason: String)

    /// Why a run with this verdict fails: a history that is not linearizable, or one the search could not decide
    /// (which would otherwise pass unchecked) unless that run's seed is waived.
    func failure(waived undecidedIsWaived: Bool) -> String? {
        switch self {
        case .linearizable: nil
        case .notLinearizable: "linearizability: \(self)"
        case .unknown: undecidedIsWaived ? nil : "linearizability undecided, the search ran out of budget: \(self)"
        }
    }

    public var description: String {
        switch self {
        case .linearizable:
            return "linearizable"
        case .notLinearizable(let key, let explanation):
            return "not linearizable (key \"\(key)\"): \(explanation)"
        case .unknown(let key, let reason):
            return "unknown (key \"\(key)\"): \(reason)"
        }
    }
}

/// Decides whether a history of register operations is linearizable.
///
/// Each key is an independent register, initially absent. For each key the checker runs a
/// depth-first search over linearization orders (Wing & Gong), pruned by remembering every
/// (set of linearized operations, register value) pair already explored (Lowe); a pair seen
/// twice leads to the same sub-search, so it is explored once. Operations with an unknown
/// outcome are placed after their invocation or left out, and the memo also skips states that
/// differ from an explored one only by having placed more of them.
///
/// Real-time order is conservative: operation A must precede B only if
/// `A.completedAt < B.invokedAt`. When A completes at the same tick that B is invoked the two
/// count as concurrent, because equal virtual times say nothing about which happened first.
/// This can only accept more histories, never reject a correct one.
///
/// The checker is deterministic: the same history gives the same verdict and explanation.
public struct LinearizabilityChecker: Sendable {
    /// How many distinct search states one key may visit before its verdict is
    /// ``LinearizabilityVerdict/unknown(key:reason:)``.
    public let stateBudgetPerKey: Int

    /// - Parameter stateBudgetPerKey: the number of distinct (linearized set, value) states the
    ///   search may visit for one key before it gives up. Must be positive.
    public init(stateBudgetPerKey: Int = 200_000) {
        precondition(stateBudgetPerKey > 0, "stateBudgetPerKey must be positive, got \(stateBudgetPerKey)")
        self.stateBudgetPerKey = stateBudgetPerKey
    }

    /// Checks `history`, one key at a time in ascending key order.
    ///
    /// - Returns: ``LinearizabilityVerdict/notLinearizable(key:explanation:)`` for the first key
    ///   (in key order) without a linearization; otherwise
    ///   ``LinearizabilityVerdict/unknown(key:reason:)`` for the first key whose search ran out
    ///   of budget; otherwise ``LinearizabilityVerdict/linearizable``.
    /// - Precondition: every operation satisfies the invariants documented on
    ///   ``HistoryOperation``. A violation is a bug in whoever recorded the history.
    public func check(_ history: [HistoryOperation]) -> LinearizabilityVerdict {
        var operationsByKey: [String: [HistoryOperation]] = [:]
        for operation in history {
            Self.validate(operation)
            operationsByKey[operation.key, default: []].append(operation)
        }

        var firstUnknownVerdict: LinearizabilityVerdict?
        for key in operationsByKey.keys.sorted() {
            var search = RegisterLinearizationSearch(
                operations: operationsByKey[key] ?? [],
                stateBudget: stateBudgetPerKey
            )
            switch search.run() {
            case .linearizable:
                continue
            case .notLinearizable(let explanation):
                return .notLinearizable(key: key, explanation: explanation)
            case .budgetExhausted(let reason):
                // Keep going: a later key that is definitely broken outranks this one.
                if firstUnknownVerdict == nil {
                    firstUnknownVerdict = .unknown(key: key, reason: reason)
                }
            }
        }
        return firstUnknownVerdict ?? .linearizable
    }

    private static func validate(_ operation: HistoryOperation) {
        let name =
            "operation \(describe(operation.operation)) by client \(operation.client) on key \"\(operation.key)\""
        precondition(
            (operation.completedAt == nil) == (operation.result == nil),
            "\(name) must have a result exactly when it has a completion time"
        )
        if let completedAt = operation.completedAt {
            precondition(
                completedAt >= operation.invokedAt,
                "\(name) completed at \(completedAt), before it was invoked at \(operation.invokedAt)"
            )
        }
        if let result = operation.result {
            precondition(
                RegisterModel.resultMatchesKind(result, of: operation.operation),
                "\(name) has result \(describe(result)), which is the wrong kind for that operation"
            )
        }
    }
}

// MARK: - The register model

/// The sequential specification of one key: a register that starts absent.
enum RegisterModel {
    /// Applies `operation` to a register holding `value`.
    ///
    /// - Returns: the value afterwards and the result a correct register would answer.
    static func apply(_ operation: KVOperation, to value: Int?) -> (value: Int?, result: KVResult) {
        switch operation {
        case .get:
            return (value, .value(value))
        case .put(let newValue):
            return (newValue, .ok)
        case .compareAndSet(let expected, let newValue):
            return value == expected ? (newValue, .swapped(true)) : (value, .swapped(false))
        case .delete:
            return (nil, .ok)
        }
    }

    static func resultMatchesKind(_ result: KVResult, of operation: KVOperation) -> Bool {
        switch (operation, result) {
        case (.get, .value), (.put, .ok), (.compareAndSet, .swapped), (.delete, .ok):
            return true
        default:
            return false
        }
    }
}

// MARK: - The search for one key

/// A set of operation indices, stored as a bitset so that search states hash cheaply.
struct OperationSet: Hashable {
    private var words: [UInt64]

    init(capacity: Int) {
        words = Array(repeating: 0, count: (capacity + 63) / 64)
    }

    func contains(_ index: Int) -> Bool {
        words[index / 64] & (1 << UInt64(index % 64)) != 0
    }

    mutating func insert(_ index: Int) {
        words[index / 64] |= 1 << UInt64(index % 64)
    }

    mutating func remove(_ index: Int) {
        words[index / 64] &= ~(1 << UInt64(index % 64))
    }

    /// Whether every member of `self` is in `other`, which must have the same capacity.
    func isSubset(of other: OperationSet) -> Bool {
        assert(words.count == other.words.count, "comparing sets of different capacities")
        for (word, otherWord) in zip(words, other.words) where word & ~otherWord != 0 {
            return false
        }
        return true
    }
}

/// Wing & Gong's search with Lowe's memoization over one key's operations, as in Porcupine.
///
/// The history becomes a doubly linked list of call and return events in time order. Scanning
/// from the head, every call met before the first return belongs to an operation that may be
/// linearized next: no operation still waiting to be linearized completed before it was
/// invoked. Linearizing an operation "lifts" its call and return out of the list; backtracking
/// puts them back (dancing links, so undo is O(1)). An operation with an unknown outcome has no
/// return event: it never blocks the scan, may be placed anywhere after its call, and need not
/// be placed at all. The search succeeds once every completed operation is linearized.
///
/// Lowe's memo skips a state equal to one already explored. With unknown outcomes it can skip
/// more: see `markExplored`.
///
/// Two reductions keep histories with many unknown outcomes small, as a real cluster under faults
/// produces them (every request cut off by a partition is one). Both keep the verdict exact:
/// - Values that no operation reads back or compares against are all alike to the register: no
///   get returned one and no compare-and-set expected one, so which of them the register holds
///   decides nothing. The search runs on a model of the history in which they are all one
///   value. A timed-out put whose value nobody saw then becomes the same operation as every other
///   such put.
/// - Unknown-outcome operations that are the same model operation are interchangeable once
///   invoked, since none has a return to order anything by. The search only ever places the
///   earliest of them not yet placed (`earlierTwin`); any linearization that places a later one
///   instead is the same linearization with the two swapped.
struct RegisterLinearizationSearch {
    enum Outcome {
        case linearizable
        case notLinearizable(explanation: String)
        case budgetExhausted(reason: String)
    }

    /// One node of the event list: an operation's call or its return.
    private struct Event {
        var operationIndex: Int
        var isCall: Bool
        /// For a call of a completed operation, the node of its return event.
        var returnNode: Int?
    }

    /// The operations linearized so far, split by whether their outcome is known because the
    /// memo treats the two kinds differently. Each kind is numbered by its own `slot`.
    private struct LinearizedOperations {
        var completed: OperationSet
        var pending: OperationSet
    }

    /// The part of a search state that must match exactly for one state to cover another.
    private struct SettledState: Hashable {
        var linearizedCompleted: OperationSet
        var value: Int?
    }

    private let stateBudget: Int
    /// The key's operations sorted by invocation time; indices into this array identify them.
    /// Gets with an unknown outcome are dropped up front: they change nothing and nobody saw
    /// their answer, so they can always be left out.
    private let operations: [HistoryOperation]
    private let completedOperationCount: Int
    private let droppedPendingGetCount: Int
    /// For each operation, its index among the completed or among the pending operations.
    private let slot: [Int]
    /// Each operation as the search models it: written values nobody reads become one.
    private let modelOperations: [KVOperation]
    /// For an unknown-outcome operation, the latest earlier unknown-outcome operation with the
    /// same model operation; it must be placed before this one may be.
    private let earlierTwin: [Int?]

    /// Node 0 is the head sentinel and the last node is the tail sentinel.
    private var events: [Event]
    private var nextNode: [Int]
    private var previousNode: [Int]
    private let headNode = 0
    private let tailNode: Int

    /// For each settled state explored, the sets of pending operations it was explored with.
    /// No set in a list is a superset of another: a superset is covered, so it is dropped.
    private var explored: [SettledState: [OperationSet]] = [:]
    /// How many states the search has explored; compared against `stateBudget`.
    private var exploredStateCount = 0

    /// The deepest point the search reached, kept to explain a failure.
    private var longestPrefix: [Int] = []

    init(operations unsortedOperations: [HistoryOperation], stateBudget: Int) {
        self.stateBudget = stateBudget

        let operationsWithEffect = unsortedOperations.filter { !($0.completedAt == nil && $0.operation == .get) }
        droppedPendingGetCount = unsortedOperations.count - operationsWithEffect.count
        // Sorting by (invokedAt, original position) keeps the order deterministic and makes
        // explanations read in time order.
        operations = operationsWithEffect.enumerated()
            .sorted { ($0.element.invokedAt, $0.offset) < ($1.element.invokedAt, $1.offset) }
            .map(\.element)
        var completedCount = 0
        var pendingCount = 0
        slot = operations.map { operation in
            if operation.completedAt != nil {
                defer { completedCount += 1 }
                return completedCount
            } else {
                defer { pendingCount += 1 }
                return pendingCount
            }
        }
        completedOperationCount = completedCount

        var readValues = Set<Int>()
        for operation in operations {
            switch (operation.operation, operation.result) {
            case (.get, .value(let value?)?): readValues.insert(value)
            case (.compareAndSet(let expected?, _), _): readValues.insert(expected)
            default: break
            }
        }
        // The one value that stands for every written value no operation reads or compares against.
        var unreadValue = Int.min
        while readValues.contains(unreadValue) { unreadValue += 1 }
        let model = { (value: Int) in readValues.contains(value) ? value : unreadValue }
        let modelOperations = operations.map { operation -> KVOperation in
            switch operation.operation {
            case .get: .get
            case .put(let value): .put(model(value))
            case .compareAndSet(let expected, let new): .compareAndSet(expected: expected, new: model(new))
            case .delete: .delete
            }
        }
        self.modelOperations = modelOperations
        var latestPendingWith: [KVOperation: Int] = [:]
        earlierTwin = zip(operations, modelOperations).enumerated().map { index, pair in
            guard pair.0.completedAt == nil else { return nil }
            defer { latestPendingWith[pair.1] = index }
            return latestPendingWith[pair.1]
        }

        // Order events by time; at equal times calls come before returns, so an operation that
        // completes at the tick another is invoked counts as concurrent with it.
        struct TimedEvent {
            var time: UInt64
            var isReturn: Bool
            var operationIndex: Int
        }
        var timedEvents: [TimedEvent] = []
        for (index, operation) in operations.enumerated() {
            timedEvents.append(TimedEvent(time: operation.invokedAt, isReturn: false, operationIndex: index))
            if let completedAt = operation.completedAt {
                timedEvents.append(TimedEvent(time: completedAt, isReturn: true, operationIndex: index))
            }
        }
        timedEvents.sort {
            ($0.time, $0.isReturn ? 1 : 0, $0.operationIndex) < ($1.time, $1.isReturn ? 1 : 0, $1.operationIndex)
        }

        let sentinel = Event(operationIndex: -1, isCall: false, returnNode: nil)
        events = [sentinel]
        var returnNodeOfOperation = Array(repeating: -1, count: operations.count)
        for timedEvent in timedEvents {
            if timedEvent.isReturn { returnNodeOfOperation[timedEvent.operationIndex] = events.count }
            events.append(
                Event(operationIndex: timedEvent.operationIndex, isCall: !timedEvent.isReturn, returnNode: nil))
        }
        for node in events.indices where events[node].isCall {
            let returnNode = returnNodeOfOperation[events[node].operationIndex]
            events[node].returnNode = returnNode >= 0 ? returnNode : nil
        }
        tailNode = events.count
        events.append(sentinel)
        nextNode = Array(1...events.count)
        previousNode = Array(-1..<(events.count - 1))
    }

    mutating func run() -> Outcome {
        if completedOperationCount == 0 { return .linearizable }

        var value: Int? = nil
        var linearized = LinearizedOperations(
            completed: OperationSet(capacity: completedOperationCount),
            pending: OperationSet(capacity: operations.count - completedOperationCount)
        )
        var linearizedCompletedCount = 0
        /// The choices made so far: the call node linearized and the value before it.
        var choices: [(callNode: Int, valueBefore: Int?)] = []

        // Each scan of the candidates runs twice: first over completed operations, then over
        // pending ones. Trying "leave the pending operation out" first means the states that
        // cover later ones (see `markExplored`) are explored first, which is what lets the memo
        // prune them.
        var isScanningPending = false
        var node = nextNode[headNode]
        while true {
            if node == tailNode || !events[node].isCall {
                // The earliest outstanding return is reached (or nothing is left to try).
                if !isScanningPending {
                    isScanningPending = true
                    node = nextNode[headNode]
                    continue
                }
                // No remaining operation extends this prefix: undo the most recent choice and
                // try the alternatives after it, in the same pass it was made in.
                guard let lastChoice = choices.popLast() else {
                    return .notLinearizable(explanation: explainFailure())
                }
                let operationIndex = events[lastChoice.callNode].operationIndex
                value = lastChoice.valueBefore
                if operations[operationIndex].completedAt != nil {
                    linearized.completed.remove(slot[operationIndex])
                    linearizedCompletedCount -= 1
                    isScanningPending = false
                } else {
                    linearized.pending.remove(slot[operationIndex])
                    isScanningPending = true
                }
                restore(callNode: lastChoice.callNode)
                node = nextNode[lastChoice.callNode]
                continue
            }

            let operationIndex = events[node].operationIndex
            let operation = operations[operationIndex]
            let isPending = operation.completedAt == nil
            guard isPending == isScanningPending,
                !isPending || earlierTwin[operationIndex].map({ linearized.pending.contains(slot[$0]) }) ?? true
            else {
                node = nextNode[node]
                continue
            }
            let (valueAfter, correctResult) = RegisterModel.apply(modelOperations[operationIndex], to: value)
            // An unknown outcome is consistent with whatever the register would have answered.
            if isPending || operation.result == correctResult {
                var linearizedAfter = linearized
                if isPending {
                    assert(!linearized.pending.contains(slot[operationIndex]), "operation linearized twice")
                    linearizedAfter.pending.insert(slot[operationIndex])
                } else {
                    assert(!linearized.completed.contains(slot[operationIndex]), "operation linearized twice")
                    linearizedAfter.completed.insert(slot[operationIndex])
                }
                if markExplored(linearizedAfter, value: valueAfter) {
                    if exploredStateCount > stateBudget {
                        return .budgetExhausted(reason: explainBudgetExhausted(deepest: longestPrefix.count))
                    }
                    choices.append((callNode: node, valueBefore: value))
                    value = valueAfter
                    linearized = linearizedAfter
                    lift(callNode: node)
                    if !isPending {
                        linearizedCompletedCount += 1
                        if linearizedCompletedCount == completedOperationCount { return .linearizable }
                    }
                    if choices.count > longestPrefix.count {
                        longestPrefix = choices.map { events[$0.callNode].operationIndex }
                    }
                    isScanningPending = false
                    node = nextNode[headNode]
                    continue
                }
            }
            node = nextNode[node]
        }
    }

    /// Records that the search is about to explore `linearized` with the register at `value`,
    /// unless an explored state already covers it.
    ///
    /// State A covers state B when both hold the same value, have linearized the same completed
    /// operations, and A's linearized pending operations are a subset of B's. Any way to finish
    /// from B also finishes from A by leaving out the extra pending operations, which is allowed
    /// because an unknown outcome may never take effect and has no return to order anything by.
    /// So once A is explored (or is being explored further up the stack) B can be skipped. This
    /// matters when a pending put is placed and later overwritten: that state is covered by the
    /// one that left the put out, so k pending puts no longer multiply the search by 2^k.
    /// Equal states, the only ones Lowe's memo skips, are the special case A == B.
    ///
    /// - Returns: `true` if the state is new and must be explored; `false` if it is covered.
    private mutating func markExplored(_ linearized: LinearizedOperations, value: Int?) -> Bool {
        let settled = SettledState(linearizedCompleted: linearized.completed, value: value)
        let isNew = Self.insertUncovered(linearized.pending, into: &explored[settled, default: []])
        if isNew { exploredStateCount += 1 }
        return isNew
    }

    private static func insertUncovered(_ pending: OperationSet, into exploredPending: inout [OperationSet]) -> Bool {
        if exploredPending.contains(where: { $0.isSubset(of: pending) }) { return false }
        // Sets that `pending` covers need no more checking against: anything they cover, it covers.
        exploredPending.removeAll { pending.isSubset(of: $0) }
        exploredPending.append(pending)
        return true
    }

    // MARK: Event list

    /// Unlinks an operation's call and, if it completed, its return. Nodes keep their own links
    /// so that `restore` can put them back.
    private mutating func lift(callNode: Int) {
        unlink(callNode)
        if let returnNode = events[callNode].returnNode { unlink(returnNode) }
    }

    /// Undoes `lift`. Must mirror it in reverse order, which the search's stack guarantees.
    private mutating func restore(callNode: Int) {
        if let returnNode = events[callNode].returnNode { relink(returnNode) }
        relink(callNode)
    }

    private mutating func unlink(_ node: Int) {
        nextNode[previousNode[node]] = nextNode[node]
        previousNode[nextNode[node]] = previousNode[node]
    }

    private mutating func relink(_ node: Int) {
        assert(nextNode[previousNode[node]] == nextNode[node], "event list restored out of order")
        nextNode[previousNode[node]] = node
        previousNode[nextNode[node]] = node
    }

    // MARK: Explanations

    private func explainFailure() -> String {
        // The search ran on the model, whose unread values are all one; replaying the prefix on the operations
        // themselves gives the value the register really held.
        let prefixValue = longestPrefix.reduce(Int?.none) {
            RegisterModel.apply(operations[$1].operation, to: $0).value
        }
        var lines: [String] = []
        lines.append(
            "no linearization of \(operations.count) operations (\(completedOperationCount) completed)."
        )
        lines.append(
            "Longest linearizable prefix found (\(longestPrefix.count) operations), "
                + "leaving the register \(describe(prefixValue)):"
        )
        if longestPrefix.isEmpty { lines.append("  (none)") }
        for (position, operationIndex) in longestPrefix.enumerated() {
            lines.append("  \(position + 1). \(describe(operations[operationIndex]))")
        }

        // The operations that could come next are those no unlinearized operation must precede.
        let remaining = operations.indices.filter { !longestPrefix.contains($0) }
        let earliestOutstandingReturn = remaining.compactMap { operations[$0].completedAt }.min()
        let candidates = remaining.filter { index in
            guard let earliestOutstandingReturn else { return true }
            return operations[index].invokedAt <= earliestOutstandingReturn
        }
        lines.append("None of these operations can be linearized next:")
        for index in candidates {
            let operation = operations[index]
            let correctResult = RegisterModel.apply(operation.operation, to: prefixValue).result
            let reason: String
            if let result = operation.result, result != correctResult {
                reason = "here it would have returned \(describe(correctResult))"
            } else {
                reason = "consistent here, but no continuation accounts for the rest"
            }
            lines.append("  - \(describe(operation)) (\(reason))")
        }
        return lines.joined(separator: "\n")
    }

    private func explainBudgetExhausted(deepest: Int) -> String {
        let pendingCount = operations.count - completedOperationCount + droppedPendingGetCount
        return "gave up after visiting \(stateBudget) search states "
            + "(longest linearizable prefix: \(deepest) of \(operations.count) operations; "
            + "\(pendingCount) with unknown outcome). "
            + "Raise stateBudgetPerKey or shorten the history."
    }
}

// MARK: - Descriptions

private func describe(_ value: Int?) -> String {
    value.map { "holding \($0)" } ?? "absent"
}

private func describe(_ operation: KVOperation) -> String {
    switch operation {
    case .get:
        return "get"
    case .put(let value):
        return "put(\(value))"
    case .compareAndSet(let expected, let new):
        return "compareAndSet(expected: \(expected.map(String.init) ?? "absent"), new: \(new))"
    case .delete:
        return "delete"
    }
}

private func describe(_ result: KVResult) -> String {
    switch result {
    case .value(let value):
        return value.map(String.init) ?? "absent"
    case .ok:
        return "ok"
    case .swapped(let swapped):
        return swapped ? "swapped" : "not swapped"
    }
}

private func describe(_ operation: HistoryOperation) -> String {
    let completion = operation.completedAt.map(String.init) ?? "?"
    let result = operation.result.map(describe) ?? "unknown outcome"
    return "client \(operation.client) \(describe(operation.operation)) "
        + "[t=\(operation.invokedAt)...\(completion)] -> \(result)"
}
