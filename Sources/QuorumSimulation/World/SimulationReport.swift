import QuorumConsensus

/// What one simulated world did, and whether it stayed correct.
public struct SimulationReport: Sendable, CustomStringConvertible {
    public var options: SimulationOptions
    public var stats: SimulationStats
    public var linearizability: LinearizabilityVerdict?
    /// The first safety, liveness or linearizability failure; nil if the run passed.
    public var failure: String?
    /// Multi-group worlds: what each group did; empty for a single group.
    public var groups: [GroupSummary] = []

    public var passed: Bool { failure == nil }

    /// The one command that replays this world bit for bit.
    public var replayCommand: String {
        var command = "swift run quorum simulate --seed \(options.seed)"
        if options.groups > 1 { command += " --groups \(options.groups)" }
        if options.sharded { command += " --sharded" }
        if options.runsStore { command += " --store" }
        if options.consensus != .raft { command += " --consensus \(options.consensus.rawValue)" }
        if let bug = options.injectedBug { command += " --inject-bug \(bug.rawValue)" }
        if let bug = options.injectedPaxosBug { command += " --inject-bug \(bug.rawValue)" }
        return command
    }

    public var description: String {
        var lines = ["world: \(options)"]
        lines.append(
            "leaders elected: \(stats.leaderElections) (highest term \(stats.highestTerm)), "
                + "transfers: \(stats.leadershipTransfers), membership changes applied: \(stats.membershipChanges)")
        lines.append(
            "entries applied: \(stats.entriesApplied), snapshots taken: \(stats.snapshotsTaken), "
                + "installed: \(stats.snapshotsInstalled)"
                + (stats.snapshotsSerializedAside > 0
                    ? ", serialised aside: \(stats.snapshotsSerializedAside) (overtaken: \(stats.snapshotsOvertaken))"
                    : "")
                + (stats.snapshotsSentInParts > 0
                    ? ", sent in parts: \(stats.snapshotsSentInParts) (cut off: \(stats.snapshotConnectionsCut), "
                        + "assembled: \(stats.snapshotsAssembled))"
                    : ""))
        lines.append(
            "crashes: \(stats.crashes) (power losses: \(stats.powerLosses), damaged disks: \(stats.disksDamaged)), partitions: \(stats.partitions), messages sent: \(stats.messagesSent), "
                + "delivered: \(stats.messagesDelivered)")
        lines.append(
            "client operations: \(stats.operationsCompleted) completed, \(stats.operationsUnknown) with unknown outcome, "
                + "\(stats.operationsRefused) refused"
                + (options.runsStore ? ", \(stats.writesRetried) write attempts sent again in their session" : ""))
        if options.runsStore {
            lines.append(
                "leases granted: \(stats.leasesGranted), revoked: \(stats.leasesRevoked) (deleting \(stats.keysRevoked) keys), "
                    + "wall-clock jumps: \(stats.clockJumps)")
        }
        if options.sharded {
            lines.append(
                "moves finished: \(stats.movesFinished) (started over \(stats.movesResumed)×), requests refused "
                    + "for a key their group did not serve: \(stats.staleRoutesRefused)")
        }
        if let livenessMs = stats.livenessMs {
            lines.append("after healing: leader and commit on all voters in \(livenessMs) ms")
        }
        if let linearizability { lines.append("linearizability: \(linearizability)") }
        lines += groups.map(\.description)
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
    /// Snapshots serialised off the driver (`SimulationOptions.snapshotSerializationMsMax`), and those of them a
    /// leader's snapshot overtook while they were being serialised.
    public var snapshotsSerializedAside = 0
    public var snapshotsOvertaken = 0
    /// Snapshots sent in parts (`SimulationOptions.snapshotParts`), those whose connection broke part-way, and
    /// those put together again by their receiver.
    public var snapshotsSentInParts = 0
    public var snapshotConnectionsCut = 0
    public var snapshotsAssembled = 0
    public var crashes = 0
    /// Crashes of every running node at once.
    public var powerLosses = 0
    /// Disks found holding damaged synced data (a failing checksum or a latent sector error) after a crash.
    public var disksDamaged = 0
    public var partitions = 0
    public var messagesSent = 0
    public var messagesDelivered = 0
    public var operationsCompleted = 0
    public var operationsUnknown = 0
    public var operationsRefused = 0
    /// Worlds that run the store: attempts of writes sent again in their session after an unknown outcome.
    public var writesRetried = 0
    /// Worlds that run the store: leases granted, revocations applied and the keys they deleted, and jumps of the
    /// nodes' wall clocks.
    public var leasesGranted = 0
    public var leasesRevoked = 0
    public var keysRevoked = 0
    public var clockJumps = 0
    public var livenessMs: UInt64?
    public var events = 0
    /// Multi-group worlds: frames between node pairs (each carrying every group's messages of one moment), and
    /// those that carried more than one group's; fsyncs, and those that made more than one group's writes durable.
    public var framesSent = 0
    public var framesWithSeveralGroups = 0
    public var fsyncs = 0
    public var fsyncsWithSeveralGroups = 0
    /// Sharded worlds: moves finished, times the mover started a move over, and requests a group refused because
    /// it did not serve their key (routed by a stale map, or during a move).
    public var movesFinished = 0
    public var movesResumed = 0
    public var staleRoutesRefused = 0
}

/// One group of a multi-group world, in a line.
public struct GroupSummary: Sendable, CustomStringConvertible {
    public var group: Int
    public var leaderElections = 0
    public var entriesApplied = 0
    public var operationsCompleted = 0
    /// Times a leader of this group quiesced it.
    public var quiescences = 0
    /// Times node liveness woke a quiescent follower of this group.
    public var livenessWakes = 0
    public var linearizability: LinearizabilityVerdict?

    public init(group: Int) { self.group = group }

    public var description: String {
        "group \(group): \(leaderElections) leaders, \(entriesApplied) entries, \(operationsCompleted) operations, "
            + "quiesced \(quiescences)×, woken by liveness \(livenessWakes)×, "
            + (linearizability.map { "\($0)" } ?? "not checked")
    }
}
