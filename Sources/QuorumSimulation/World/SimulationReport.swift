import QuorumConsensus

/// What one simulated world did, and whether it stayed correct.
public struct SimulationReport: Sendable, CustomStringConvertible {
    public var options: SimulationOptions
    public var stats: SimulationStats
    public var linearizability: LinearizabilityVerdict?
    /// The first safety, liveness or linearizability failure; nil if the run passed.
    public var failure: String?

    public var passed: Bool { failure == nil }

    /// The one command that replays this world bit for bit.
    public var replayCommand: String {
        var command = "swift run quorum simulate --seed \(options.seed)"
        if let bug = options.injectedBug { command += " --inject-bug \(bug.rawValue)" }
        return command
    }

    public var description: String {
        var lines = ["world: \(options)"]
        lines.append(
            "leaders elected: \(stats.leaderElections) (highest term \(stats.highestTerm)), "
                + "transfers: \(stats.leadershipTransfers), membership changes applied: \(stats.membershipChanges)")
        lines.append(
            "entries applied: \(stats.entriesApplied), snapshots taken: \(stats.snapshotsTaken), "
                + "installed: \(stats.snapshotsInstalled)")
        lines.append(
            "crashes: \(stats.crashes), partitions: \(stats.partitions), messages sent: \(stats.messagesSent), "
                + "delivered: \(stats.messagesDelivered)")
        lines.append(
            "client operations: \(stats.operationsCompleted) completed, \(stats.operationsUnknown) with unknown outcome, "
                + "\(stats.operationsRefused) refused")
        if let livenessMs = stats.livenessMs { lines.append("after healing: leader and commit on all voters in \(livenessMs) ms") }
        if let linearizability { lines.append("linearizability: \(linearizability)") }
        lines.append(failure.map { "FAILED: \($0)\nreplay: \(replayCommand)" } ?? "passed")
        return lines.joined(separator: "\n")
    }
}

public struct SimulationStats: Sendable {
    public var leaderElections = 0
    public var highestTerm: Term = 0
    public var leadershipTransfers = 0
    public var membershipChanges = 0
    public var entriesApplied = 0
    public var snapshotsTaken = 0
    public var snapshotsInstalled = 0
    public var crashes = 0
    public var partitions = 0
    public var messagesSent = 0
    public var messagesDelivered = 0
    public var operationsCompleted = 0
    public var operationsUnknown = 0
    public var operationsRefused = 0
    public var livenessMs: UInt64?
    public var events = 0
}
