import QuorumSimulation

/// A chaos history checked one key at a time (the checker would split it so too), to count the keys it could not
/// decide as well as find the first violation.
public struct ChaosCheck: Sendable {
    /// The first violation found, else the first key the checker could not decide, else linearizable.
    public let verdict: LinearizabilityVerdict
    public let keysChecked: Int
    /// Keys whose search ran out of budget: neither a pass nor a violation.
    public let undecidedKeys: [String]
    /// Keys that did not pass: undecided or not linearizable.
    public let failedKeys: Set<String>

    public init(_ operations: [HistoryOperation], checker: LinearizabilityChecker = LinearizabilityChecker()) {
        let byKey = Dictionary(grouping: operations, by: \.key).sorted { $0.key < $1.key }
        let verdicts = byKey.map { (key: $0.key, verdict: checker.check($0.value)) }
        let violation = verdicts.first { if case .notLinearizable = $0.verdict { true } else { false } }
        let undecided = verdicts.filter { if case .unknown = $0.verdict { true } else { false } }
        verdict = violation?.verdict ?? undecided.first?.verdict ?? .linearizable
        keysChecked = verdicts.count
        undecidedKeys = undecided.map(\.key)
        failedKeys = Set(verdicts.filter { $0.verdict != .linearizable }.map(\.key))
    }
}
