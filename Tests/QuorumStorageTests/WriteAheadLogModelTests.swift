import QuorumConsensus
import Testing

@testable import QuorumStorage

/// Random appends, truncations, hard states, snapshot resets, compactions and reopenings, checked after every
/// reopen against a plain in-memory model of what the log must hold.
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

    @Test("recovery always matches the model", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func matchesModel(seed: UInt64) throws {
        try withTemporaryDirectory { directory in
            var random = SplitMix64(seed: seed)
            let options = WriteAheadLog.Options(segmentBytes: 700)
            var (log, _) = try WriteAheadLog.open(directory: directory, options: options)
            var model = Model()
            var term: UInt64 = 1
            for step in 0..<300 {
                switch random.next() % 10 {
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
                    let point = SnapshotPoint(
                        index: model.lastIndex.advanced(by: Int(random.next() % 5)), term: Term(term))
                    try log.appendSnapshotReset(point, for: testGroup)
                    model.entries.removeAll()
                    model.resetIndex = point.index
                case 8:
                    let through = LogIndex(random.next() % (model.lastIndex.rawValue + 1))
                    try log.sync()
                    try log.releaseSegments(of: testGroup, through: through)
                    model.compactedThrough = max(model.compactedThrough, through)
                default:
                    try log.sync()
                    log.close()
                    let recovery: WriteAheadLogRecovery
                    (log, recovery) = try WriteAheadLog.open(directory: directory, options: options)
                    check(recovery, against: model, context: "seed \(seed), step \(step)")
                }
            }
            try log.sync()
            log.close()
            let (_, recovery) = try WriteAheadLog.open(directory: directory, options: options)
            check(recovery, against: model, context: "seed \(seed), end")
        }
    }

    func check(_ recovery: WriteAheadLogRecovery, against model: Model, context: String) {
        #expect(recovery.hardState ?? HardState() == model.hardState, "\(context)")
        #expect(recovery.tornTail == nil, "\(context)")
        // Compaction may have removed entries at or below `compactedThrough`; everything above must be there.
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
