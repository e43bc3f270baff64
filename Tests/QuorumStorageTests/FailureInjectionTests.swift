import QuorumConsensus
import Testing

@testable import QuorumNode
@testable import QuorumStorage

/// A disk that fills up or fails at a random byte, at random points of random workloads: whatever was reported
/// durable is recovered, and what was in flight is either absent or a prefix of what was written.
@Suite("Failure injection")
struct FailureInjectionTests {
    @Test("nothing reported durable is lost when the disk fails at a random byte", arguments: Array(1...12) as [UInt64])
    func durableSurvivesRandomFailure(seed: UInt64) throws {
        try withTemporaryDirectory { path in
            var random = SplitMix64(seed: seed)
            // A third of the seeds fail an fdatasync (EIO) instead of running out of space.
            let failSyncAt: UInt64? = seed % 3 == 0 ? 3 + random.next() % 10 : nil
            let io = FaultyFileIO(bytesAllowed: failSyncAt == nil ? 800 + Int(random.next() % 12_000) : .max)
            let reports = Reports()
            let options = SingleGroupStorage.Options(writeAheadLog: .init(segmentBytes: 1024, io: io))
            let storage = try SingleGroupStorage(
                path: path, options: options, onDurable: reports.onDurable, onFailure: reports.onFailure)

            var durable: (entries: [Entry], hardState: HardState) = ([], HardState())
            var inFlight: PersistBatch?
            var term: UInt64 = 1
            for number in UInt64(1)...80 {
                if number == failSyncAt { io.failSyncs(true) }
                let last = durable.entries.last?.index.rawValue ?? 0
                let overwrite = last > 3 && random.next() % 5 == 0
                if overwrite { term += 1 }
                let first = overwrite ? last - random.next() % 3 : last + 1
                let entries = commands(first...first + random.next() % 5, term: Term(term))
                let hardState = HardState(term: Term(term), votedFor: 1, commitIndex: LogIndex(first - 1))
                let batch = PersistBatch(
                    readyNumber: number, snapshot: nil, entries: entries, hardState: hardState, mustSync: true)
                storage.persist(batch)
                #expect(reports.wait { $0.durableNumbers.last == number || !$0.failureList.isEmpty })
                guard reports.failureList.isEmpty else {
                    inFlight = batch
                    break
                }
                durable.entries.removeAll { $0.index >= LogIndex(first) }
                durable.entries += entries
                durable.hardState = hardState
            }
            storage.close()
            #expect(inFlight != nil, "seed \(seed): the injected failure never happened")
            #expect(reports.durableNumbers.count == Int(reports.durableNumbers.last ?? 0))

            let reopened = try SingleGroupStorage(path: path, onDurable: { _ in })
            defer { reopened.close() }
            let recovered = reopened.recovered
            guard let inFlight else {
                #expect(recovered.entries == durable.entries)
                #expect(recovered.hardState == durable.hardState)
                return
            }
            // The failed batch may have reached the disk in part: any prefix of its entries, its hard state or not.
            let first = inFlight.entries[0].index
            let possible = (0...inFlight.entries.count).map { kept in
                durable.entries.filter { $0.index < first } + inFlight.entries.prefix(kept)
            }
            #expect(
                recovered.entries == durable.entries || possible.contains(recovered.entries),
                "seed \(seed): recovered \(recovered.entries.count) entries, durable \(durable.entries.count)")
            #expect(recovered.hardState == durable.hardState || recovered.hardState == inFlight.hardState)
        }
    }
}
