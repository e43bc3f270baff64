import QuorumConsensus
import Testing

@testable import QuorumStorage

/// Random appends, truncations, hard states, snapshot resets (keeping later entries or not), releases,
/// destructions and re-creations and reopenings of three groups sharing one log, with a segment limit low enough
/// that lagging groups are rewritten, checked after every reopen against a plain in-memory model of what each group's log must hold.
@Suite("Write-ahead log against a model")
struct WriteAheadLogModelTests {
    struct Model {
        var entries: [Entry] = []
        var hardState = HardState()
        /// Entries at or below this index may have been compacted away.
        var compactedThrough: LogIndex = .zero
        var lastIndex: LogIndex { entries.last?.index ?? resetIndex }
        var resetIndex: LogIndex = .zero
    }

    static let groups: [GroupID] = [1, 2, 3]

    @Test("recovery always matches the model", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func matchesModel(seed: UInt64) throws {
        try withTemporaryDirectory { directory in
            var random = SplitMix64(seed: seed)
            // Any group small enough to fit a few segments may be rewritten, so that rewrites happen often.
            let options = WriteAheadLog.Options(segmentBytes: 700, segmentCountLimit: 4, rewriteBytesMax: 4 * 700)
            var (log, _) = try WriteAheadLog.open(directory: directory, options: options)
            var models = Dictionary(uniqueKeysWithValues: Self.groups.map { ($0, Model()) })
            var term: UInt64 = 1
            var rewrites = 0
            for step in 0..<600 {
                // Group 3 lags: it writes a tenth as often as the others, so it holds back old segments.
                let roll = random.next() % 21
                let group: GroupID = roll < 10 ? 1 : roll < 20 ? 2 : 3
                let testGroup = group
                var model = models[group]!
                defer { models[group] = model }
                switch random.next() % 11 {
                case 0...4:
                    // Append, sometimes overwriting a suffix (never below what compaction may have removed).
                    let lowest = max(model.compactedThrough, model.resetIndex).rawValue + 1
                    let highest = model.lastIndex.rawValue + 1
                    let overwrite = random.next() % 4 == 0 && highest > lowest
                    let first = overwrite ? lowest + random.next() % (highest - lowest) : highest
                    if overwrite { term += 1 }
                    let batch = commands(first...first + random.next() % 6, term: Term(term))
                    try log.append(batch, for: testGroup)
                    model.entries.removeAll { $0.index >= LogIndex(first) }
                    model.entries += batch
                case 5, 6:
                    let hardState = HardState(
                        term: Term(term), votedFor: NodeID(1 + random.next() % 3), commitIndex: model.lastIndex)
                    try log.append(hardState, for: testGroup)
                    model.hardState = hardState
                case 7:
                    // A reset that keeps later entries (Multi-Paxos) may land inside the log; one that replaces it
                    // (Raft) at or after its end.
                    let keeping = random.next() % 2 == 0
                    let floor = keeping ? max(model.compactedThrough, model.resetIndex) : model.lastIndex
                    let span = floor.distance(to: model.lastIndex) + 5
                    let point = SnapshotPoint(
                        index: floor.advanced(by: Int(random.next() % UInt64(span))), term: Term(term))
                    try log.appendSnapshotReset(point, keepingLaterEntries: keeping, for: testGroup)
                    model.entries.removeAll { !keeping || $0.index <= point.index }
                    model.resetIndex = point.index
                case 8:
                    let through = LogIndex(random.next() % (model.lastIndex.rawValue + 1))
                    try log.sync()
                    try log.releaseSegments(of: testGroup, through: through)
                    model.compactedThrough = max(model.compactedThrough, through)
                case 9 where random.next() % 4 == 0:
                    // Destroyed, then deliberately created again: it starts empty.
                    try log.appendTombstone(for: group)
                    try log.appendRevival(for: group)
                    model = Model()
                default:
                    try log.sync()
                    rewrites += log.groupRewrites
                    log.close()
                    let recovery: WriteAheadLogRecovery
                    (log, recovery) = try WriteAheadLog.open(directory: directory, options: options)
                    models[group] = model
                    check(recovery, against: models, context: "seed \(seed), step \(step)")
                    // What the groups' snapshots cover is the owner's to say again after a restart.
                    for (group, model) in models {
                        log.setReleasePoint(of: group, through: max(model.compactedThrough, model.resetIndex))
                    }
                }
            }
            try log.sync()
            rewrites += log.groupRewrites
            log.close()
            let (_, recovery) = try WriteAheadLog.open(directory: directory, options: options)
            check(recovery, against: models, context: "seed \(seed), end")
            // The lagging group made the log exceed its segment limit, and was rewritten to bring it back.
            #expect(rewrites > 0, "seed \(seed): no group was ever rewritten")
        }
    }

    func check(_ recovery: WriteAheadLogRecovery, against models: [GroupID: Model], context: String) {
        #expect(recovery.tornTail == nil, "\(context)")
        #expect(recovery.tombstones.isEmpty, "\(context)")
        #expect(Set(recovery.groups.keys).isSubset(of: Set(models.keys)), "\(context)")
        for (group, model) in models { check(recovery.group(group), against: model, context: "\(group), \(context)") }
    }

    func check(_ recovery: GroupLogRecovery, against model: Model, context: String) {
        #expect(recovery.hardState ?? HardState() == model.hardState, "\(context)")
        // Releasing may have removed entries at or below `compactedThrough`; everything above must be there.
        let kept = model.entries.filter { $0.index > model.compactedThrough }
        let recoveredKept = recovery.entries.filter { $0.index > model.compactedThrough }
        #expect(recoveredKept == kept, "\(context)")
        // And whatever else was recovered is what the model has at those indexes.
        let modelByIndex = Dictionary(uniqueKeysWithValues: model.entries.map { ($0.index, $0) })
        for entry in recovery.entries where modelByIndex[entry.index] != entry {
            Issue.record("recovered \(entry) the model does not hold; \(context)")
            break
        }
    }
}
