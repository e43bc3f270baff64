import Foundation
import QuorumConsensus
import QuorumSharding
import Testing

@testable import QuorumSimulation

/// The sharded seeds CI runs: `QUORUM_SHARDED_SEEDS=N` runs N instead, `QUORUM_SHARDED_SEED=S` replays just S.
/// A sharded world costs about a second of CPU in a debug build, so 80 fit in CI's budget of about 90 seconds,
/// not the 300 of the other worlds; `quorum simulate --sharded --groups drawn --seeds 300` runs more in release.
private let shardedSeedBatches: [ClosedRange<UInt64>] = {
    let environment = ProcessInfo.processInfo.environment
    if let seed = environment["QUORUM_SHARDED_SEED"].flatMap(UInt64.init) { return [seed...seed] }
    let count = max(1, environment["QUORUM_SHARDED_SEEDS"].flatMap(UInt64.init) ?? shardedSeedsInCI)
    let size = max(1, (count + 3) / 4)
    return stride(from: UInt64(1), through: count, by: Int(size)).map { $0...min($0 + size - 1, count) }
}()

private let shardedSeedsInCI: UInt64 = 80

/// A sharded world for `seed`, with the group count the seed draws.
func shardedOptions(seed: UInt64) -> SimulationOptions {
    var options = multiGroupOptions(seed: seed)
    options.sharded = true
    return options
}

@Suite("Sharded simulation")
struct ShardedSimulationTests {
    @Test(
        "every sharded seed keeps each key in one owner, loses no acknowledged write and stays linearizable per key",
        arguments: shardedSeedBatches)
    func seedsPass(batch: ClosedRange<UInt64>) async {
        let reports = await worlds(batch) { MultiGroupSimulation(options: shardedOptions(seed: $0)).run() }
        var moves = 0
        var resumed = 0
        var staleRoutes = 0
        var operations = 0
        for report in reports {
            #expect(report.passed, "\(report)")
            moves += report.stats.movesFinished
            resumed += report.stats.movesResumed
            staleRoutes += report.stats.staleRoutesRefused
            operations += report.stats.operationsCompleted
        }
        // The worlds must move keys while clients use them, or the checks would check little.
        #expect(moves >= 2 * batch.count, "seeds \(batch) finished only \(moves) moves")
        #expect(resumed >= 1 || batch.count < 8, "seeds \(batch): no move was ever started over")
        #expect(
            staleRoutes >= batch.count, "seeds \(batch): only \(staleRoutes) requests met a group that moved the key")
        #expect(operations >= 20 * batch.count, "seeds \(batch) completed only \(operations) operations")
    }

    @Test("a sharded seed replays bit for bit")
    func replayIsDeterministic() {
        let first = MultiGroupSimulation(options: shardedOptions(seed: 5)).run()
        let second = MultiGroupSimulation(options: shardedOptions(seed: 5)).run()
        #expect(first.description == second.description)
        #expect(first.stats.events == second.stats.events)
    }

    @Test("the ownership checker follows a key through its moves, from founding owner to target and back")
    func ownershipCheckerFollowsMoves() {
        let founding = ShardMap.founding(groups: 2)
        let checker = ShardOwnershipChecker(founding: founding)
        let key = "s0"
        let source = founding.owner(ofKey: Array(key.utf8))
        let target = GroupID(source.rawValue == 1 ? 2 : 1)
        let slot = HashSlot(key: Array(key.utf8)).rawValue
        let keys = KeySelector.slots(slot...slot)
        checker.began(ShardMigration(keys: keys, from: source, to: target), move: 1)
        #expect(checker.owns(key, in: source, after: 10))
        #expect(!checker.owns(key, in: target, after: 10))
        checker.recordApplied(ShardStep(move: 1, keys: keys, kind: .importKeys(from: source)), in: target, at: 4)
        checker.recordApplied(ShardStep(move: 1, keys: keys, kind: .releaseKeys(to: target)), in: source, at: 7)
        checker.recordApplied(ShardStep(move: 1, keys: keys, kind: .finishImport), in: target, at: 9)
        // A repeat of a step later in the log changes nothing.
        checker.recordApplied(ShardStep(move: 1, keys: keys, kind: .releaseKeys(to: target)), in: source, at: 12)
        #expect(checker.owns(key, in: source, after: 6))
        #expect(!checker.owns(key, in: source, after: 7))
        #expect(checker.violation(servingKey: key, in: source, after: 8) != nil)
        #expect(!checker.owns(key, in: target, after: 8))
        #expect(checker.owns(key, in: target, after: 9))
        // And back: the first owner serves it again once its import finished.
        checker.began(ShardMigration(keys: keys, from: target, to: source), move: 2)
        checker.recordApplied(ShardStep(move: 2, keys: keys, kind: .importKeys(from: target)), in: source, at: 20)
        checker.recordApplied(ShardStep(move: 2, keys: keys, kind: .releaseKeys(to: source)), in: target, at: 15)
        checker.recordApplied(ShardStep(move: 2, keys: keys, kind: .finishImport), in: source, at: 25)
        #expect(!checker.owns(key, in: source, after: 24))
        #expect(checker.owns(key, in: source, after: 25))
        #expect(!checker.owns(key, in: target, after: 15))
        // A group that never held the key never owns it.
        #expect(!checker.owns(key, in: GroupID(3), after: 30))
    }

    /// Regression (release sweep, seeds 170 and 210): a slot move whose range covered the slot a key of the
    /// range-sharded keyspace hashes to was taken to move that key too, and its target was flagged for serving it.
    @Test("a slot move does not carry keys of a range-sharded keyspace, whatever slot they hash to")
    func slotMovesLeaveRangeKeys() throws {
        let founding = try ShardMap.founding(groups: 2).declaring(prefix: Array("r/".utf8), owner: GroupID(1))
        let checker = ShardOwnershipChecker(founding: founding)
        let key = "r/a"
        let slot = HashSlot(key: Array(key.utf8)).rawValue
        let keys = KeySelector.slots(slot...slot)
        let source = founding.assignment.group(ofKey: Array(key.utf8))
        let target = GroupID(source.rawValue == 1 ? 2 : 1)
        checker.began(ShardMigration(keys: keys, from: source, to: target), move: 1)
        checker.recordApplied(ShardStep(move: 1, keys: keys, kind: .importKeys(from: source)), in: target, at: 2)
        checker.recordApplied(ShardStep(move: 1, keys: keys, kind: .releaseKeys(to: target)), in: source, at: 2)
        #expect(checker.owns(key, in: GroupID(1), after: 5))
        #expect(!checker.owns(key, in: GroupID(2), after: 5))
    }

    @Test("a move step survives its log encoding")
    func stepEncodingRoundTrips() throws {
        let span = try #require(KeySpan(start: Array("r/d".utf8), end: Array("r/m".utf8)))
        let steps = [
            ShardStep(move: 3, keys: .slots(10...200), kind: .importKeys(from: GroupID(2))),
            ShardStep(move: 4, keys: .span(span), kind: .adoptKeys(["r/f": 7, "r/k": -1])),
            ShardStep(move: 5, keys: .span(KeySpan(prefix: Array("r/".utf8))), kind: .dropKeys),
        ]
        for step in steps { #expect(ShardStep(decoding: step.encoded) == step) }
        #expect(ShardStep(decoding: RegisterCommand(key: "s1", operation: .put(1)).encoded) == nil)
    }

    /// The sharded world has teeth, each planted bug caught by the check meant for it:
    /// - `sourceServesReleasedKeys`: a group keeps serving the keys it released, so a request routed by a stale map
    ///   lands in the old owner after its keys were copied away; the ownership checker flags the first such command.
    /// - `copyBeforeRelease`: the target adopts the keys before the source releases them, so a write the source
    ///   accepts in between is acknowledged and lost; no group serves a key it does not own, but a later read (or
    ///   the final one) misses the write, and the history is not linearizable.
    @Test(
        "a planted sharding bug is caught",
        arguments: [
            (InjectedBug.sourceServesReleasedKeys, "does not own"),
            (InjectedBug.copyBeforeRelease, "not linearizable"),
        ])
    func plantedBugIsCaught(bug: InjectedBug, expectedFailure: String) async {
        let budget = UInt64(100)
        let caughtBy = await firstFailingWorld(Array(1...budget)) { seed in
            var options = shardedOptions(seed: seed)
            options.injectedBug = bug
            return MultiGroupSimulation(options: options).run()
        }
        #expect(caughtBy != nil, "bug \(bug) survived \(budget) sharded seeds")
        if let caughtBy {
            #expect(caughtBy.failure?.contains(expectedFailure) == true, "\(caughtBy)")
            print("bug \(bug.rawValue) caught by seed \(caughtBy.options.seed): \(caughtBy.failure!)")
        }
    }
}
