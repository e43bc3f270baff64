import QuorumConsensus
import QuorumNode

/// One node's disk in a multi-group world, shared by all its groups as the real host's write-ahead log is: each
/// group's writes queue up, and one fsync makes every write queued before it durable, whichever group made it
/// (group commit across groups). A crash loses what no fsync covered, keeping at most a torn prefix of the
/// oldest such write. Snapshots a group takes itself are durable at once (temp file, fsync, rename).
final class SharedDisk {
    let node: NodeID
    private unowned let world: MultiGroupSimulation
    private var durable: [Int: RecoveredState] = [:]
    /// Written and not yet covered by an fsync, oldest first.
    private var queued: [(group: Int, batch: PersistBatch)] = []
    /// Covered by the fsync in flight, oldest first.
    private var syncing: [(group: Int, batch: PersistBatch)] = []
    private(set) var isSyncing = false
    /// Bumped on every crash so that the completion of a lost fsync is ignored.
    private(set) var incarnation = 0

    init(node: NodeID, world: MultiGroupSimulation) {
        self.node = node
        self.world = world
    }

    /// What `group` holds durably: what it would recover were the node to crash now.
    func durableState(of group: Int) -> RecoveredState { durable[group, default: RecoveredState()] }

    func persist(_ batch: PersistBatch, group: Int) {
        world.checker(group).recordWritten(batch.entries, previousTerm: termBefore(batch, group: group), on: node)
        queued.append((group, batch))
        if !isSyncing { startSync() }
    }

    func saveSnapshot(_ snapshot: Snapshot, group: Int) {
        if durable[group, default: RecoveredState()].compact(with: snapshot) { world.stats.snapshotsTaken += 1 }
    }

    private func startSync() {
        isSyncing = true
        syncing = queued
        queued.removeAll()
        world.stats.fsyncs += 1
        world.scheduleFsync(node: node, incarnation: incarnation)
    }

    /// The fsync in flight finished. Returns the writes it made durable, in order, for their groups' drivers.
    func completeSync() -> [(group: Int, readyNumber: UInt64)] {
        let done = syncing
        syncing.removeAll()
        isSyncing = false
        for write in done { durable[write.group, default: RecoveredState()].makeDurable(write.batch) }
        if Set(done.map(\.group)).count > 1 { world.stats.fsyncsWithSeveralGroups += 1 }
        if !queued.isEmpty { startSync() }
        return done.map { ($0.group, $0.batch.readyNumber) }
    }

    func crash(tornAfterRecords tornRecords: Int?) {
        if let tornRecords, let torn = (syncing + queued).first {
            durable[torn.group, default: RecoveredState()].makeDurable(torn.batch.tornPrefix(keeping: tornRecords))
        }
        syncing.removeAll()
        queued.removeAll()
        isSyncing = false
        incarnation += 1
    }

    var hasUnsyncedWrites: Bool { !syncing.isEmpty || !queued.isEmpty }
    var firstUnsyncedRecordCount: Int { (syncing + queued).first?.batch.recordCount ?? 0 }

    /// What `group` recovers after a restart. With the injected `recoveryMixesGroups` bug, a command that
    /// another group logged at the same index takes the place of this group's (a record read for the wrong group).
    func recovered(group: Int, groups: Int, injectedBug: InjectedBug?) -> RecoveredState {
        var state = durable[group, default: RecoveredState()]
        guard injectedBug == .recoveryMixesGroups else { return state }
        let neighbour = durable[group % groups + 1, default: RecoveredState()]
        let commandsByIndex = Dictionary(
            neighbour.entries.compactMap { entry -> (LogIndex, Entry.Kind)? in
                if case .command = entry.kind { (entry.index, entry.kind) } else { nil }
            }, uniquingKeysWith: { first, _ in first })
        for position in state.entries.indices {
            guard case .command = state.entries[position].kind,
                let kind = commandsByIndex[state.entries[position].index]
            else { continue }
            state.entries[position].kind = kind
        }
        return state
    }

    /// The term of the entry just before the batch's first, as this node's written log of `group` has it.
    private func termBefore(_ batch: PersistBatch, group: Int) -> Term? {
        guard let first = batch.entries.first else { return nil }
        let previous = first.index.advanced(by: -1)
        for write in (syncing + queued).reversed() where write.group == group {
            if let entry = write.batch.entries.last(where: { $0.index == previous }) { return entry.term }
            if let snapshot = write.batch.snapshot, snapshot.lastIncludedIndex == previous {
                return snapshot.lastIncludedTerm
            }
        }
        if let snapshot = batch.snapshot, snapshot.lastIncludedIndex == previous { return snapshot.lastIncludedTerm }
        let state = durable[group, default: RecoveredState()]
        if let entry = state.entries.last(where: { $0.index == previous }) { return entry.term }
        if let snapshot = state.snapshot, snapshot.lastIncludedIndex == previous { return snapshot.lastIncludedTerm }
        return previous == 0 ? 0 : nil
    }
}

/// One group's view of its node's shared disk: the `NodeStorage` its driver writes through.
final class GroupStorage: NodeStorage {
    let group: Int
    private let disk: SharedDisk

    init(group: Int, disk: SharedDisk) {
        self.group = group
        self.disk = disk
    }

    func persist(_ batch: PersistBatch) {
        disk.persist(batch, group: group)
        if batch.snapshot != nil { disk.noteSnapshotInstalled() }
    }

    func saveSnapshot(_ snapshot: Snapshot) { disk.saveSnapshot(snapshot, group: group) }
}

extension SharedDisk {
    func noteSnapshotInstalled() { world.stats.snapshotsInstalled += 1 }
}
