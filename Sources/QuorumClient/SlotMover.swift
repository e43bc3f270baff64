import QuorumConsensus
import QuorumSharding
import QuorumStore

/// Moves hash slots from the group that owns them to another, online, as `quorum shard move` does.
///
/// The move is recorded in the shard map first (group 1), so that it is known to every node and can be resumed by
/// anyone if the mover stops half-way. Then, each step a log entry in the group it concerns:
/// 1. the target begins importing the slots (it refuses their keys until step 4);
/// 2. the source releases them: from its next entry on it refuses their keys, which routing turns into `ASK`, and
///    keeps them for the copy;
/// 3. the source's released keys are read page by page and adopted by the target;
/// 4. the target finishes the import and serves the slots (the source sends clients there with `ASK`);
/// 5. the source drops what it released;
/// 6. the shard map gives the slots to the target, with a new epoch.
/// Between steps 2 and 4 the slots are served by no group (clients are told to retry); that window lasts as long as
/// the copy. Every step may be repeated, so resuming starts again at step 1, except that the copy is skipped once
/// the target has finished the import (it may have taken writes since).
public struct SlotMover: Sendable {
    public let endpoints: [String]
    public let timeout: Duration
    /// Keys per export page.
    public var pageKeys = 1_000

    public init(endpoints: [String], timeout: Duration = .seconds(10)) {
        self.endpoints = endpoints
        self.timeout = timeout
    }

    /// Moves `slots` to `target` and returns the map that records it; `progress` hears of every step.
    public func move(
        _ slots: ClosedRange<Int>, to target: GroupID, progress: @Sendable (String) -> Void = { _ in }
    ) async throws(QuorumClientError) -> ShardMap {
        try await using(client(of: ShardMap.group)) { metadata throws(QuorumClientError) in
            let map = try await metadata.shardMap()
            let migration: SlotMigration
            if let begun = map.migrations.first(where: { $0.slots == slots && $0.to == target }) {
                progress("resuming the move of slots \(slots.lowerBound)-\(slots.upperBound) to group \(target.rawValue)")
                migration = begun
            } else {
                let next: ShardMap
                do throws(ShardMapError) {
                    next = try map.beginning(slots, to: target)
                } catch {
                    throw .refused(error.description)
                }
                guard try await metadata.updateShardMap(next) else {
                    throw .refused("the shard map changed while the move began; run the move again")
                }
                guard let begun = next.migrations.first(where: { $0.slots == slots }) else {
                    throw .unexpectedResponse("the map lost the move it began")
                }
                migration = begun
            }
            return try await carryOut(migration, metadata: metadata, progress: progress)
        }
    }

    /// Finishes every move recorded in the shard map, as after a mover stopped half-way.
    public func resumeAll(progress: @Sendable (String) -> Void = { _ in }) async throws(QuorumClientError) -> ShardMap {
        try await using(client(of: ShardMap.group)) { metadata throws(QuorumClientError) in
            var map = try await metadata.shardMap()
            for migration in map.migrations {
                progress("resuming the move of slots \(migration.slots.lowerBound)-\(migration.slots.upperBound)")
                map = try await carryOut(migration, metadata: metadata, progress: progress)
            }
            return map
        }
    }

    private func carryOut(
        _ migration: SlotMigration, metadata: QuorumClient, progress: @Sendable (String) -> Void
    ) async throws(QuorumClientError) -> ShardMap {
        let source = client(of: migration.from)
        let target = client(of: migration.to)
        return try await using(source) { source throws(QuorumClientError) in
            try await using(target) { target throws(QuorumClientError) in
                try await carryOut(migration, from: source, to: target, metadata: metadata, progress: progress)
            }
        }
    }

    private func carryOut(
        _ migration: SlotMigration, from source: QuorumClient, to target: QuorumClient, metadata: QuorumClient,
        progress: @Sendable (String) -> Void
    ) async throws(QuorumClientError) -> ShardMap {
        let slots = migration.slots
        let imported = try await target.slotMoveStep(.importSlots(slots, from: migration.from))
        _ = try await source.slotMoveStep(.releaseSlots(slots, to: migration.to))
        if case .slotsAlreadyImported = imported {
            // A resumed move whose copy had finished: the target may have taken writes since, so no second copy.
            progress("slots \(slots.lowerBound)-\(slots.upperBound) were already copied")
        } else {
            try await copy(slots, from: source, to: target, progress: progress)
        }
        _ = try await target.slotMoveStep(.finishImport(slots))
        _ = try await source.slotMoveStep(.dropSlots(slots))
        let map = try await recordFinished(migration, metadata: metadata)
        progress("slots \(slots.lowerBound)-\(slots.upperBound) now belong to group \(migration.to.rawValue) (epoch \(map.epoch))")
        return map
    }

    private func copy(
        _ slots: ClosedRange<Int>, from source: QuorumClient, to target: QuorumClient,
        progress: @Sendable (String) -> Void
    ) async throws(QuorumClientError) {
        var after: [UInt8] = []
        var copied = 0
        while true {
            guard
                case .slotsExported(let keys, let next, _) = try await source.slotMoveStep(
                    .exportSlots(slots, after: after, limit: pageKeys))
            else { throw .unexpectedResponse("not an export page") }
            if !keys.isEmpty { _ = try await target.slotMoveStep(.adoptKeys(keys)) }
            copied += keys.count
            progress("copied \(copied) keys of slots \(slots.lowerBound)-\(slots.upperBound)")
            guard let next else { return }
            after = next
        }
    }

    /// Gives the migration's slots to its target in the map, retrying while other changes race with it.
    private func recordFinished(_ migration: SlotMigration, metadata: QuorumClient) async throws(QuorumClientError)
        -> ShardMap
    {
        while true {
            let map = try await metadata.shardMap()
            guard map.migrations.contains(migration) else { return map }
            let finished = map.finishing(migration)
            if try await metadata.updateShardMap(finished) {
                return ShardMap(epoch: map.epoch + 1, assignment: finished.assignment, migrations: finished.migrations)
            }
        }
    }

    private func client(of group: GroupID) -> QuorumClient {
        QuorumClient(endpoints: endpoints, timeout: timeout, group: group)
    }

    /// Runs `body` with `client`, closing it afterwards whatever happens.
    private func using<Value>(
        _ client: QuorumClient, _ body: (QuorumClient) async throws(QuorumClientError) -> Value
    ) async throws(QuorumClientError) -> Value {
        do {
            let value = try await body(client)
            await client.close()
            return value
        } catch {
            await client.close()
            throw error
        }
    }
}
