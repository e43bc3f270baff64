import QuorumConsensus
import QuorumNode

/// One node's disk. A write becomes durable only when its (simulated) fsync completes; a crash before that
/// loses it, keeping at most a prefix of its entries (a torn write). Snapshots the node takes itself are
/// written durably at once (temp file, fsync, rename).
final class SimulatedDisk: NodeStorage {
    let node: NodeID
    private unowned let world: Simulation
    private(set) var durable = RecoveredState()
    /// Written but not yet synced, oldest first.
    private var pending: [PersistBatch] = []
    /// Bumped on every crash so that completions of lost writes are ignored.
    private(set) var incarnation = 0
    /// Synced data that no longer reads back as written, which the node's storage finds when it next starts and
    /// refuses to start on; nil while the disk is sound.
    private(set) var damage: String?
    /// What this node's messages promised the disk holds: it must still hold it whenever the node starts.
    var promisesMade = LatestPromises()

    init(node: NodeID, world: Simulation) {
        self.node = node
        self.world = world
    }

    func persist(_ batch: PersistBatch) {
        world.checker.recordWritten(batch.entries, previousTerm: termBefore(batch), on: node)
        if batch.snapshot != nil { world.stats.snapshotsInstalled += 1 }
        pending.append(batch)
        world.scheduleDiskCompletion(node: node, incarnation: incarnation, readyNumber: batch.readyNumber)
    }

    func saveSnapshot(_ snapshot: Snapshot) {
        if durable.compact(with: snapshot) { world.stats.snapshotsTaken += 1 }
    }

    /// The fsync of `readyNumber` finished: it and everything before it are durable.
    func complete(readyNumber: UInt64) {
        while let batch = pending.first, batch.readyNumber <= readyNumber {
            pending.removeFirst()
            durable.makeDurable(batch)
        }
    }

    func crash(tornAfterRecords tornRecords: Int?) {
        if let tornRecords, let torn = pending.first { durable.makeDurable(torn.tornPrefix(keeping: tornRecords)) }
        pending.removeAll()
        incarnation += 1
    }

    /// Damages a synced record, the newest entry's or else the hard state's: its checksum no longer matches, or
    /// reading it fails (a latent sector error). The real storage refuses both at recovery (docs/storage.md).
    func damageSyncedRecord(latentSectorError: Bool) {
        let record = durable.entries.last.map { "entry \($0.index)'s record" } ?? "the hard state's record"
        damage =
            latentSectorError
            ? "reading \(record) fails with EIO (a latent sector error)" : "\(record) fails its checksum"
    }

    /// What `InjectedBug.damagedDiskWipedInPlace` does: an empty disk where the damaged one was, under the same node.
    func wipe() {
        durable = RecoveredState()
        damage = nil
    }

    var hasPendingWrites: Bool { !pending.isEmpty }
    var firstPendingRecordCount: Int { pending.first?.recordCount ?? 0 }

    /// The term of the entry just before the batch's first, as this node's written log has it.
    private func termBefore(_ batch: PersistBatch) -> Term? {
        guard let first = batch.entries.first else { return nil }
        let previous = first.index.advanced(by: -1)
        for write in pending.reversed() {
            if let entry = write.entries.last(where: { $0.index == previous }) { return entry.term }
            if let snapshot = write.snapshot, snapshot.lastIncludedIndex == previous {
                return snapshot.lastIncludedTerm
            }
        }
        if let snapshot = batch.snapshot, snapshot.lastIncludedIndex == previous { return snapshot.lastIncludedTerm }
        if let entry = durable.entries.last(where: { $0.index == previous }) { return entry.term }
        if let snapshot = durable.snapshot, snapshot.lastIncludedIndex == previous { return snapshot.lastIncludedTerm }
        return previous == 0 ? 0 : nil
    }
}
