import QuorumSimulation

/// What a chaos run found. It passed only if the history was checked to the end and found linearizable, no
/// acknowledged write was lost, the final reads were answered, and no server ended by itself.
public struct ChaosReport: Sendable, CustomStringConvertible {
    public var options: ChaosOptions
    public var faultsInjected: [FaultKind: Int]
    public var faultsNotInjected: [String]
    /// Why the run filled no disk although its fault kinds asked for it, if so.
    public var diskFullLeftOut: String?
    /// Times a node's log said its disk was full, and that it reopened its storage and served again.
    public var fullDisksNoticed: Int
    public var fullDisksRecovered: Int
    /// Nodes added by membership changes that had become voters when their removal was asked for.
    public var sparesPromoted: Int
    /// Nodes added by membership changes that the healed cluster would not remove.
    public var sparesNotRemoved: [String]
    public var proxyCounters: ChaosProxy.Counters
    /// Operations in the history the checker searched (completed, or with an unknown outcome).
    public var operations: Int
    public var unknownOutcomes: Int
    /// Of `operations`, those made through the Redis port.
    public var redisOperations: Int
    /// Operations the cluster refused before acting on them, left out of the history.
    public var refused: Int
    /// The first violation found, else the first key the checker could not decide, else linearizable.
    public var verdict: LinearizabilityVerdict
    public var keysChecked: Int
    /// Keys whose search ran out of budget: neither a pass nor a violation.
    public var undecidedKeys: Int
    public var acknowledgedWrites: Int
    public var lostWrites: [String]
    public var finalReadFailure: String?
    public var unexpectedExits: [String]
    public var elapsed: Duration
    /// The servers' data directories and logs, removed when the run passed.
    public var keptFiles: String

    public var passed: Bool {
        verdict == .linearizable && lostWrites.isEmpty && finalReadFailure == nil && unexpectedExits.isEmpty
            && sparesNotRemoved.isEmpty
    }

    public var isViolation: Bool {
        if case .notLinearizable = verdict { return true }
        return false
    }

    public var description: String {
        var lines = [
            "chaos run: seed \(options.seed), \(options.nodes) nodes, \(options.durationSeconds) s of workload"
                + (options.unsafeLocalReads ? " (UNSAFE: local reads recorded as linearizable)" : "")
                + ", \(elapsed.components.seconds) s in all",
            "faults injected: \(faultsInjected.values.reduce(0, +)) ("
                + FaultKind.allCases.map { "\($0.rawValue) \(faultsInjected[$0, default: 0])" }.joined(separator: ", ")
                + ")",
            "proxy: \(proxyCounters.randomlyDropped) connections dropped at random (\(proxyCounters.clientConnectionsDropped) "
                + "of them clients'), \(proxyCounters.cut) cut by "
                + "partitions, \(proxyCounters.slowed) chunks delayed or throttled",
            "operations checked: \(operations) (\(operations - unknownOutcomes) completed, \(unknownOutcomes) with an "
                + "unknown outcome; \(redisOperations) through the Redis port; \(refused) refused before acting, "
                + "left out)",
        ]
        switch verdict {
        case .linearizable: lines.append("linearizability: no violation in \(keysChecked) keys")
        case .notLinearizable: lines.append("linearizability: VIOLATION \(verdict)")
        case .unknown:
            lines.append(
                "linearizability: no violation found, but \(undecidedKeys) of \(keysChecked) keys NOT CHECKED (the "
                    + "search ran out of budget); the first: \(verdict)")
        }
        if let fills = faultsInjected[.diskFull] {
            lines.append(
                "full disks: \(fills) filled, \(fullDisksNoticed) times a node said so, \(fullDisksRecovered) times it "
                    + "served again without a restart")
        }
        if let changes = faultsInjected[.membershipChange] {
            lines.append(
                "membership changes: \(changes) nodes added and removed, \(sparesPromoted) of them voters by then")
        }
        lines.append("acknowledged writes: \(acknowledgedWrites), lost: \(lostWrites.count)")
        lines += lostWrites.prefix(10).map { "  lost: \($0)" }
        lines += faultsNotInjected.map { "not injected: \($0)" }
        if let diskFullLeftOut { lines.append("diskFull left out: \(diskFullLeftOut)") }
        if let finalReadFailure { lines.append("FAILED: \(finalReadFailure)") }
        lines += sparesNotRemoved.map { "FAILED: \($0)" }
        lines += unexpectedExits.map { "FAILED: \($0)" }
        lines.append(passed ? "PASSED" : "FAILED (servers' logs and data kept in \(keptFiles))")
        return lines.joined(separator: "\n")
    }
}
