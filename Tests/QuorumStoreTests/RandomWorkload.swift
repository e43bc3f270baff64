import QuorumConsensus
@testable import QuorumStore

/// Random proposals over a small key space, so that keys collide, leases attach and compaction bites.
enum RandomWorkload {
    static func key(_ generator: inout SplitMix64) -> [UInt8] {
        [UInt8(ascii: "k"), UInt8(48 + generator.next() % 12)]
    }

    static func proposal(_ generator: inout SplitMix64, store: KeyValueStore) -> StoreProposal {
        let command: StoreCommand
        let roll = generator.next() % 100
        let lease: LeaseID? = generator.next() % 4 == 0 ? LeaseID(1 + generator.next() % 3) : nil
        switch roll {
        case 0..<45:
            command = .put(
                PutRequest(key: key(&generator), value: Array("v\(generator.next() % 1000)".utf8), lease: lease))
        case 45..<60:
            let start = key(&generator)
            command = .deleteRange(
                DeleteRangeRequest(key: start, rangeEnd: generator.next() % 2 == 0 ? nil : key(&generator)))
        case 60..<70:
            command = .transaction(
                TransactionRequest(
                    compare: [Comparison(key: key(&generator), .version(generator.next() % 3), .greater)],
                    success: [
                        .put(PutRequest(key: key(&generator), value: [1])),
                        .deleteRange(DeleteRangeRequest(key: key(&generator))),
                    ],
                    failure: [.put(PutRequest(key: key(&generator), value: [2], lease: lease))]))
        case 70..<75:
            let target = store.compactedRevision.rawValue + generator.next() % 20
            command = .compact(Revision(min(target, store.revision.rawValue)))
        case 75..<82:
            command = .leaseGrant(
                id: LeaseID(1 + generator.next() % 3), ttl: LeaseTTL(seconds: 1 + generator.next() % 5),
                grantedAt: StoreTime(milliseconds: generator.next() % 10_000))
        case 82..<86:
            command = .leaseRevoke(LeaseID(1 + generator.next() % 3))
        case 86..<90:
            command = .leaseKeepAlive(
                id: LeaseID(1 + generator.next() % 3), at: StoreTime(milliseconds: generator.next() % 10_000))
        case 90..<93:
            command = .closeSession(ClientID(generator.next() % 12))
        default:
            command = .range(RangeRequest(key: key(&generator), rangeEnd: [0], limit: Int(generator.next() % 4)))
        }
        let session: ClientSession? =
            generator.next() % 3 == 0
            ? ClientSession(client: ClientID(generator.next() % 12), sequence: SequenceNumber(generator.next() % 40))
            : nil
        return StoreProposal(command, session: session)
    }
}
