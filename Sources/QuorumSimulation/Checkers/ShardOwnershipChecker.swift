import QuorumConsensus
import QuorumSharding

/// Sharded worlds: no group applies a command for a key, or serves a read of it, at a point of its log where the
/// key is not its own by the moves' order — whatever map the request was routed with.
///
/// The checker does not ask the group's `KeyOwnership` (that is what it checks). It knows each move the mover
/// began (its keys, source and target) and the log index at which each group first applied each of the move's
/// steps, and derives ownership from the protocol alone: a key is its founding owner's; the source stops owning
/// it at its first release, the target owns it from its first finished import (and not while importing). Moves of
/// one key follow each other (the mover records a move in the map only once the one before it finished), so
/// walking a key's moves in order walks each group's log in order.
final class ShardOwnershipChecker {
    let founding: ShardMap
    private var moves: [Int: ShardMigration] = [:]
    /// Per group and move: the index at which the group first applied each step that changes ownership.
    private var firstApplied: [GroupID: [Int: [Milestone: LogIndex]]] = [:]

    private enum Milestone: String, Hashable {
        case release, importBegun, importFinished
    }

    init(founding: ShardMap) {
        self.founding = founding
    }

    /// Called when the mover records a move in the map, before any of its steps is proposed.
    func began(_ migration: ShardMigration, move: Int) {
        moves[move] = migration
    }

    func recordApplied(_ step: ShardStep, in group: GroupID, at index: LogIndex) {
        let milestone: Milestone
        switch step.kind {
        case .releaseKeys: milestone = .release
        case .importKeys: milestone = .importBegun
        case .finishImport: milestone = .importFinished
        case .exportKeys, .adoptKeys, .dropKeys: return
        }
        // Every replica applies the same entry at an index (state machine safety); the first one to get there
        // records it, and a repeat of the step later in the log changes nothing.
        if firstApplied[group]?[step.move]?[milestone] == nil {
            firstApplied[group, default: [:]][step.move, default: [:]][milestone] = index
        }
    }

    /// Whether `group` owns `key` once it has applied every entry through `index`.
    func owns(_ key: String, in group: GroupID, after index: LogIndex) -> Bool {
        let bytes = Array(key.utf8)
        var owned = founding.owner(ofKey: bytes) == group
        let applied = firstApplied[group] ?? [:]
        for move in moves.keys.sorted() {
            let migration = moves[move]!
            guard Self.moves(migration, bytes, founding: founding), let steps = applied[move] else { continue }
            func reached(_ milestone: Milestone) -> Bool { steps[milestone].map { $0 <= index } ?? false }
            if migration.from == group && reached(.release) { owned = false }
            if migration.to == group {
                if reached(.importBegun) { owned = false }
                if reached(.importFinished) { owned = true }
            }
        }
        return owned
    }

    /// Whether `migration` carries `key`: a key of a range-sharded keyspace moves with its span only, any other key
    /// with its hash slot only (a slot move's range may cover the slot a range-sharded key hashes to).
    private static func moves(_ migration: ShardMigration, _ key: [UInt8], founding: ShardMap) -> Bool {
        switch migration.keys {
        case .slots: founding.keyspace(of: key) == nil && migration.keys.contains(key)
        case .span(let span): span.contains(key)
        }
    }

    func violation(servingKey key: String, in group: GroupID, after index: LogIndex) -> String? {
        guard !owns(key, in: group, after: index) else { return nil }
        let history = moves.keys.sorted().compactMap { move -> String? in
            let migration = moves[move]!
            guard Self.moves(migration, Array(key.utf8), founding: founding) else { return nil }
            let steps = (firstApplied[group]?[move] ?? [:]).sorted { $0.value < $1.value }
                .map { "\($0.key.rawValue) at \($0.value)" }
            return "move \(move) of \(migration.keys) from group \(migration.from.rawValue) to \(migration.to.rawValue)"
                + (steps.isEmpty ? "" : ", here: " + steps.joined(separator: ", "))
        }
        return "group \(group.rawValue) does not own \(key) there (founding owner "
            + "\(founding.owner(ofKey: Array(key.utf8)).rawValue); moves: \(history.joined(separator: "; ")))"
    }
}
