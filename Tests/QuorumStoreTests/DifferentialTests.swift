import QuorumConsensus
import Testing

@testable import QuorumStore

/// The dumbest correct store: a full list of writes, replayed from the start for every read.
struct NaiveStore {
    struct Write {
        var revision: UInt64
        var key: [UInt8]
        /// nil for a delete.
        var value: [UInt8]?
        var lease: LeaseID?
    }

    /// A write before it is given a revision.
    enum Change {
        case put([UInt8], [UInt8], LeaseID?)
        case delete(key: [UInt8], rangeEnd: [UInt8]?)
    }

    var writes: [Write] = []
    var revision: UInt64 = 0
    var compacted: UInt64 = 0
    var leases: Set<LeaseID> = []

    /// Live keys after applying `writes` in order to `state`, and the events they produce.
    static func play(_ writes: some Sequence<Write>, on state: inout [[UInt8]: KeyValue]) -> [WatchEvent] {
        var events: [WatchEvent] = []
        for write in writes {
            let previous = state[write.key]
            if let value = write.value {
                let kv = KeyValue(
                    key: write.key, value: value, createRevision: previous?.createRevision ?? Revision(write.revision),
                    modRevision: Revision(write.revision), version: (previous?.version ?? 0) + 1, lease: write.lease)
                state[write.key] = kv
                events.append(WatchEvent(kind: .put, kv: kv, prevKV: previous))
            } else {
                state[write.key] = nil
                events.append(
                    WatchEvent(
                        kind: .delete,
                        kv: KeyValue(
                            key: write.key, value: [], createRevision: 0, modRevision: Revision(write.revision),
                            version: 0),
                        prevKV: previous))
            }
        }
        return events
    }

    func replay(upTo revision: UInt64) -> (state: [[UInt8]: KeyValue], events: [WatchEvent]) {
        var state: [[UInt8]: KeyValue] = [:]
        let events = Self.play(writes.lazy.filter { $0.revision <= revision }, on: &state)
        return (state, events)
    }

    var current: [[UInt8]: KeyValue] { replay(upTo: revision).state }

    /// Applies changes at one revision (none if they write nothing), as a put, a delete or a transaction does.
    mutating func commit(_ changes: [Change]) {
        var state = current
        var batch: [Write] = []
        for change in changes {
            switch change {
            case .put(let key, let value, let lease):
                let write = Write(revision: revision + 1, key: key, value: value, lease: lease)
                _ = Self.play([write], on: &state)
                batch.append(write)
            case .delete(let key, let rangeEnd):
                let doomed = state.keys.filter { KeyRange.contains($0, key: key, rangeEnd: rangeEnd) }
                for key in doomed.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                    let write = Write(revision: revision + 1, key: key, value: nil, lease: nil)
                    _ = Self.play([write], on: &state)
                    batch.append(write)
                }
            }
        }
        guard !batch.isEmpty else { return }
        revision += 1
        writes += batch
    }

    mutating func revoke(_ lease: LeaseID) {
        leases.remove(lease)
        let attached = current.values.filter { $0.lease == lease }.map(\.key).sorted {
            $0.lexicographicallyPrecedes($1)
        }
        commit(attached.map { .delete(key: $0, rangeEnd: nil) })
    }

    func range(_ request: RangeRequest) -> Result<RangeResponse, StoreError> {
        let at = request.revision.map(\.rawValue) ?? revision
        if at < compacted { return .failure(.compacted(requested: Revision(at), oldestAvailable: Revision(compacted))) }
        if at > revision { return .failure(.futureRevision(requested: Revision(at), current: Revision(revision))) }
        let matches = replay(upTo: at).state.values
            .filter { KeyRange.contains($0.key, key: request.key, rangeEnd: request.rangeEnd) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let limited = request.limit > 0 ? Array(matches.prefix(request.limit)) : matches
        return .success(
            RangeResponse(
                revision: Revision(revision), kvs: limited, more: limited.count < matches.count, count: matches.count))
    }
}

@Suite("Differential against a naive model")
struct DifferentialTests {
    @Test(
        "random puts, deletes, transactions, leases, past reads, compactions and watch resumes agree with the model",
        arguments: [7, 8, 9, 10] as [UInt64])
    func agreesWithModel(seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        var store = KeyValueStore(limits: StoreLimits(compactionStepsPerCommand: 2))
        var model = NaiveStore()
        func key() -> [UInt8] {
            [UInt8(ascii: "a") + UInt8(generator.next() % 6), UInt8(ascii: "a") + UInt8(generator.next() % 3)]
        }
        for step in 0..<500 {
            let lease: LeaseID? = generator.next() % 3 == 0 ? LeaseID(1 + generator.next() % 3) : nil
            switch generator.next() % 14 {
            case 0..<4:
                let (k, v) = (key(), [UInt8(truncatingIfNeeded: step)])
                let result = store.apply(.put(PutRequest(key: k, value: v, lease: lease))).result
                if let lease, !model.leases.contains(lease) {
                    #expect(result.failure == .leaseNotFound(lease))
                } else {
                    model.commit([.put(k, v, lease)])
                }
            case 4..<6:
                let start = key()
                let end: [UInt8]? = generator.next() % 2 == 0 ? nil : (generator.next() % 4 == 0 ? [0] : key())
                let response = try #require(
                    store.apply(.deleteRange(DeleteRangeRequest(key: start, rangeEnd: end))).result.deleteRange)
                let before = model.revision
                model.commit([.delete(key: start, rangeEnd: end)])
                #expect((response.deleted > 0) == (model.revision > before))
            case 10:
                let id = LeaseID(1 + generator.next() % 3)
                _ = store.apply(.leaseGrant(id: id, ttl: LeaseTTL(seconds: 10), grantedAt: 0))
                model.leases.insert(id)
            case 11:
                let id = LeaseID(1 + generator.next() % 3)
                let result = store.apply(.leaseRevoke(id)).result
                if model.leases.contains(id) {
                    model.revoke(id)
                    #expect(result == .leaseRevoked(revision: Revision(model.revision)))
                } else {
                    #expect(result.failure == .leaseNotFound(id))
                }
            case 12, 13:
                let (compared, expectedVersion) = (key(), generator.next() % 3)
                let (first, second, third) = (key(), key(), key())
                let request = TransactionRequest(
                    compare: [Comparison(key: compared, .version(expectedVersion), .equal)],
                    success: [
                        .put(PutRequest(key: first, value: [1])), .deleteRange(DeleteRangeRequest(key: second)),
                        .put(PutRequest(key: second, value: [2], lease: lease)),
                    ],
                    failure: [
                        .deleteRange(DeleteRangeRequest(key: third, rangeEnd: key())),
                        .put(PutRequest(key: first, value: [3])),
                    ])
                let result = store.apply(.transaction(request)).result
                let succeeded = (model.current[compared]?.version ?? 0) == expectedVersion
                if succeeded, let lease, !model.leases.contains(lease) {
                    #expect(result.failure == .leaseNotFound(lease))
                } else {
                    #expect(result.transaction?.succeeded == succeeded)
                    if succeeded {
                        model.commit([
                            .put(first, [1], nil), .delete(key: second, rangeEnd: nil), .put(second, [2], lease),
                        ])
                    } else {
                        // The range end is drawn after `third`; read it back from the request.
                        guard case .deleteRange(let delete) = request.failure[0] else { return }
                        model.commit([.delete(key: third, rangeEnd: delete.rangeEnd), .put(first, [3], nil)])
                    }
                }
            case 6:
                let target = model.compacted + generator.next() % 8
                let result = store.apply(.compact(Revision(target))).result
                if target > model.revision {
                    #expect(
                        result.failure
                            == .futureRevision(requested: Revision(target), current: Revision(model.revision)))
                } else if target <= model.compacted {
                    #expect(
                        result.failure
                            == .compacted(requested: Revision(target), oldestAvailable: Revision(model.compacted)))
                } else {
                    model.compacted = target
                }
            case 7:
                let from = generator.next() % (model.revision + 2)
                let expected = model.replay(upTo: model.revision).events.filter { $0.revision.rawValue >= from }
                if from != 0 && from < model.compacted {
                    #expect(
                        throws: StoreError.compacted(
                            requested: Revision(from), oldestAvailable: Revision(model.compacted))
                    ) {
                        try store.events(from: Revision(from), key: [0], rangeEnd: [0])
                    }
                } else if from != 0 {
                    let actual = try store.events(from: Revision(from), key: [0], rangeEnd: [0])
                    let firstDifference = zip(actual, expected).first { $0 != $1 }
                    #expect(actual.count == expected.count, "step \(step)")
                    #expect(firstDifference == nil, "step \(step): \(String(describing: firstDifference))")
                }
            default:  // 8, 9
                let end: [UInt8]? = generator.next() % 3 == 0 ? nil : (generator.next() % 4 == 0 ? [0] : key())
                let revision: Revision? =
                    generator.next() % 2 == 0 ? nil : Revision(1 + generator.next() % (model.revision + 2))
                let request = RangeRequest(
                    key: key(), rangeEnd: end, limit: Int(generator.next() % 4), revision: revision)
                let actual: Result<RangeResponse, StoreError> = Result { () throws(StoreError) in
                    try store.range(request)
                }
                #expect(actual == model.range(request), "step \(step): \(request)")
            }
            try #require(store.revision.rawValue == model.revision, "diverged at step \(step)")
            store.checkInvariants()
        }
    }
}
