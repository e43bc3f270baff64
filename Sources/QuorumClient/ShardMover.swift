import QuorumConsensus
import QuorumSharding
import QuorumStore

/// Moves keys — hash slots, or a span of a range-sharded keyspace — from the group that owns them to another,
/// online, as `quorum shard move`, `split` and `merge` do; and declares range-sharded keyspaces.
///
/// The move is recorded in the shard map first (group 1), so that it is known to every node and can be resumed by
/// anyone if the mover stops half-way. Then, each step a log entry in the group it concerns:
/// 1. the target begins importing the keys (it refuses them until step 4);
/// 2. the source releases them: from its next entry on it refuses them, which the Redis port turns into `ASK`,
///    and keeps them for the copy;
/// 3. the source's released keys are read page by page and adopted by the target;
/// 4. the target finishes the import and serves the keys (the source sends clients there with `ASK`);
/// 5. the source drops what it released;
/// 6. the shard map gives the keys to the target, with a new epoch.
/// Between steps 2 and 4 the keys are served by no group (clients are told to retry); that window lasts as long as
/// the copy. Every step may be repeated, so resuming starts again at step 1, except that the copy is skipped once
/// the target has finished the import (it may have taken writes since).
public struct ShardMover: Sendable {
    public let endpoints: [String]
    public let timeout: Duration
    /// Keys per export page.
    public var pageKeys = 1_000

    public init(endpoints: [String], timeout: Duration = .seconds(10)) {
        self.endpoints = endpoints
        self.timeout = timeout
    }

    /// Moves `keys` to `target` and returns the map that records it; `progress` hears of every step.
    public func move(
        _ keys: KeySelector, to target: GroupID, progress: @Sendable (String) -> Void = { _ in }
    ) async throws(QuorumClientError) -> ShardMap {
        try await QuorumClient.using(client(of: ShardMap.group)) { metadata throws(QuorumClientError) in
            let map = try await metadata.shardMap()
            let migration: ShardMigration
            if let begun = map.migrations.first(where: { $0.keys == keys && $0.to == target }) {
                progress("resuming the move of \(keys) to group \(target.rawValue)")
                migration = begun
            } else {
                // A move recorded towards a group no node hosts could never finish: refuse it before the map says it.
                guard try await isHosted(target, asking: metadata) else {
                    throw .refused("no node hosts group \(target.rawValue); `quorum group list` shows the groups")
                }
                let next: ShardMap
                do throws(ShardMapError) {
                    next = try map.beginning(keys, to: target)
                } catch {
                    throw .refused(error.description)
                }
                guard try await metadata.updateShardMap(next) else {
                    throw .refused("the shard map changed while the move began; run the move again")
                }
                guard let begun = next.migrations.first(where: { $0.keys == keys }) else {
                    throw .unexpectedResponse("the map lost the move it began")
                }
                migration = begun
            }
            return try await carryOut(migration, metadata: metadata, progress: progress)
        }
    }

    /// Makes keys under `prefix` range-sharded, all owned by `owner` at first: every group is told (the others refuse
    /// such keys from then on), then the map. Declare a keyspace before writing keys under it: a group other than
    /// `owner` that holds such keys refuses the declaration, naming one. Repeating a declaration is harmless.
    public func declareKeyspace(prefix: [UInt8], owner: GroupID) async throws(QuorumClientError) -> ShardMap {
        try await QuorumClient.using(client(of: ShardMap.group)) { metadata throws(QuorumClientError) in
            let map = try await metadata.shardMap()
            if let existing = map.keyspaces.first(where: { $0.prefix == prefix }) {
                guard existing.owners.pieces.count == 1, existing.owners.pieces[0].value == owner else {
                    throw .refused("the keyspace is already declared, with other owners")
                }
                return map
            }
            let next: ShardMap
            do throws(ShardMapError) {
                next = try map.declaring(prefix: prefix, owner: owner)
            } catch {
                throw .refused(error.description)
            }
            let groups = map.groups
            for group in groups.union([owner]).sorted() {
                try await QuorumClient.using(client(of: group)) { client throws(QuorumClientError) in
                    _ = try await client.moveStep(.declareKeyspace(prefix: prefix, ownedHere: group == owner))
                }
            }
            guard try await metadata.updateShardMap(next) else {
                throw .refused("the shard map changed while the keyspace was declared; declare it again")
            }
            return ShardMap(
                epoch: map.epoch + 1, assignment: next.assignment, keyspaces: next.keyspaces,
                migrations: next.migrations)
        }
    }

    /// Finishes every move recorded in the shard map, as after a mover stopped half-way.
    public func resumeAll(progress: @Sendable (String) -> Void = { _ in }) async throws(QuorumClientError) -> ShardMap {
        try await QuorumClient.using(client(of: ShardMap.group)) { metadata throws(QuorumClientError) in
            var map = try await metadata.shardMap()
            for migration in map.migrations {
                progress("resuming the move of \(migration.keys)")
                map = try await carryOut(migration, metadata: metadata, progress: progress)
            }
            return map
        }
    }

    private func carryOut(
        _ migration: ShardMigration, metadata: QuorumClient, progress: @Sendable (String) -> Void
    ) async throws(QuorumClientError) -> ShardMap {
        let source = client(of: migration.from)
        let target = client(of: migration.to)
        return try await QuorumClient.using(source) { source throws(QuorumClientError) in
            try await QuorumClient.using(target) { target throws(QuorumClientError) in
                try await carryOut(migration, from: source, to: target, metadata: metadata, progress: progress)
            }
        }
    }

    private func carryOut(
        _ migration: ShardMigration, from source: QuorumClient, to target: QuorumClient, metadata: QuorumClient,
        progress: @Sendable (String) -> Void
    ) async throws(QuorumClientError) -> ShardMap {
        let keys = migration.keys
        let imported = try await target.moveStep(.importKeys(keys, from: migration.from))
        _ = try await source.moveStep(.releaseKeys(keys, to: migration.to))
        if case .keysAlreadyImported = imported {
            // A resumed move whose copy had finished: the target may have taken writes since, so no second copy.
            progress("\(keys) were already copied")
        } else {
            try await copy(keys, from: source, to: target, progress: progress)
        }
        _ = try await target.moveStep(.finishImport(keys))
        _ = try await source.moveStep(.dropKeys(keys))
        let map = try await recordFinished(migration, metadata: metadata)
        progress("\(keys) now belong to group \(migration.to.rawValue) (epoch \(map.epoch))")
        return map
    }

    private func copy(
        _ keys: KeySelector, from source: QuorumClient, to target: QuorumClient,
        progress: @Sendable (String) -> Void
    ) async throws(QuorumClientError) {
        var after: [UInt8] = []
        var copied = 0
        while true {
            guard
                case .keysExported(let page, let next, _) = try await source.moveStep(
                    .exportKeys(keys, after: after, limit: pageKeys))
            else { throw .unexpectedResponse("not an export page") }
            if !page.isEmpty { _ = try await target.moveStep(.adoptKeys(page)) }
            copied += page.count
            progress("copied \(copied) keys of \(keys)")
            guard let next else { return }
            after = next
        }
    }

    /// Gives the migration's keys to its target in the map, retrying while other changes race with it.
    private func recordFinished(_ migration: ShardMigration, metadata: QuorumClient) async throws(QuorumClientError)
        -> ShardMap
    {
        while true {
            let map = try await metadata.shardMap()
            guard map.migrations.contains(migration) else { return map }
            let finished = map.finishing(migration)
            if try await metadata.updateShardMap(finished) {
                return ShardMap(
                    epoch: map.epoch + 1, assignment: finished.assignment, keyspaces: finished.keyspaces,
                    migrations: finished.migrations)
            }
        }
    }

    /// Whether some reachable node hosts a replica of `group`.
    private func isHosted(_ group: GroupID, asking client: QuorumClient) async throws(QuorumClientError) -> Bool {
        var reached = false
        for endpoint in endpoints {
            guard let groups = try? await client.groups(of: endpoint) else { continue }
            reached = true
            if groups.contains(where: { $0.group == group }) { return true }
        }
        guard reached else { throw .unreachable(endpoints: endpoints, lastError: "no node listed its groups") }
        return false
    }

    private func client(of group: GroupID) -> QuorumClient {
        QuorumClient(endpoints: endpoints, timeout: timeout, group: group)
    }

}
