/// etcd's mini-transaction: if every comparison holds, run `success`, else `failure`. The whole transaction
/// takes one revision; comparisons of nested transactions are evaluated against the state before the
/// outer transaction, as etcd does, so the branch path is fixed before anything is written.
public struct TransactionRequest: Hashable, Sendable {
    public var compare: [Comparison]
    public var success: [TransactionOperation]
    public var failure: [TransactionOperation]

    public init(compare: [Comparison], success: [TransactionOperation], failure: [TransactionOperation] = []) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }
}

public indirect enum TransactionOperation: Hashable, Sendable {
    case put(PutRequest)
    case range(RangeRequest)
    case deleteRange(DeleteRangeRequest)
    case transaction(TransactionRequest)
}

/// One test on the latest state of one key. A missing key has version, createRevision and modRevision 0 and
/// no lease; a comparison on the value of a missing key is false, as in etcd.
public struct Comparison: Hashable, Sendable {
    public enum Operator: UInt8, Hashable, Sendable, CaseIterable {
        case equal = 0, notEqual = 1, less = 2, greater = 3
    }

    public enum Target: Hashable, Sendable {
        case value([UInt8])
        case version(UInt64)
        case createRevision(Revision)
        case modRevision(Revision)
        /// nil: the key has no lease.
        case lease(LeaseID?)
    }

    public var key: [UInt8]
    public var target: Target
    public var `operator`: Operator

    public init(key: [UInt8], _ target: Target, _ comparisonOperator: Operator) {
        self.key = key
        self.target = target
        self.operator = comparisonOperator
    }

    /// Applies the operator to an ordering result (negative: actual < expected).
    func holds(ordering: Int) -> Bool {
        switch `operator` {
        case .equal: ordering == 0
        case .notEqual: ordering != 0
        case .less: ordering < 0
        case .greater: ordering > 0
        }
    }

    func evaluate(against current: KeyValue?) -> Bool {
        func order<T: Comparable>(_ actual: T, _ expected: T) -> Int {
            actual < expected ? -1 : (actual == expected ? 0 : 1)
        }
        switch target {
        case .value(let expected):
            guard let current else { return false }
            return holds(ordering: compareKeys(current.value, expected))
        case .version(let expected):
            return holds(ordering: order(current?.version ?? 0, expected))
        case .createRevision(let expected):
            return holds(ordering: order(current?.createRevision ?? .zero, expected))
        case .modRevision(let expected):
            return holds(ordering: order(current?.modRevision ?? .zero, expected))
        case .lease(let expected):
            return holds(ordering: order(current?.lease?.rawValue ?? 0, expected?.rawValue ?? 0))
        }
    }
}
