import QuorumConsensus
import Testing

@testable import QuorumStore

@Suite("Codec")
struct CodecTests {
    static let nested = TransactionRequest(
        compare: [
            Comparison(key: b("a"), .value(b("x")), .equal), Comparison(key: b("b"), .version(3), .less),
            Comparison(key: b("c"), .createRevision(4), .greater), Comparison(key: b("d"), .modRevision(5), .notEqual),
            Comparison(key: b("e"), .lease(7), .equal), Comparison(key: b("f"), .lease(nil), .equal),
        ],
        success: [
            .put(
                PutRequest(key: b("p"), value: b("v"), lease: 2, prevKV: true, ignoreValue: false, ignoreLease: false)),
            .range(RangeRequest(key: b("r"), rangeEnd: [0], limit: 5, revision: 9, keysOnly: true, countOnly: false)),
            .deleteRange(DeleteRangeRequest(key: b("d"), rangeEnd: b("e"), prevKV: true)),
            .transaction(TransactionRequest(compare: [], success: [], failure: [.range(RangeRequest(key: b("z")))])),
        ],
        failure: [.deleteRange(DeleteRangeRequest(key: b("x")))])

    static let commands: [StoreCommand] = [
        .put(PutRequest(key: b("key"), value: b("value"))),
        .put(PutRequest(key: [0, 255], value: [], lease: 1, prevKV: true, ignoreValue: true, ignoreLease: false)),
        .put(
            PutRequest(
                key: b("list"), value: [],
                splices: [
                    ValueSplice(offset: 4, removing: 4, inserting: [0, 0, 0, 2]),
                    ValueSplice(offset: 8, removing: 0, inserting: b("new")),
                ])),
        .range(RangeRequest(key: b("a"))),
        .range(.prefix(b("a"), limit: 3, revision: 4, countOnly: true)),
        .deleteRange(DeleteRangeRequest(key: b("a"), rangeEnd: b("b"), prevKV: true)),
        .transaction(nested),
        .compact(42),
        .leaseGrant(id: 3, ttl: LeaseTTL(seconds: 10), grantedAt: 1_234),
        .leaseKeepAlive(id: 3, at: 5_678),
        .leaseRevoke(3),
        .closeSession(8),
    ]

    @Test("every command and proposal round-trips through its encoding", arguments: commands)
    func commandRoundTrip(command: StoreCommand) throws {
        #expect(try StoreCommand(decoding: command.encoded) == command)
        let proposal = StoreProposal(command, session: ClientSession(client: 5, sequence: 6))
        #expect(try StoreProposal(decoding: proposal.encoded) == proposal)
        #expect(try StoreProposal(decoding: StoreProposal(command).encoded) == StoreProposal(command))
    }

    @Test("results of random workloads round-trip through their encoding")
    func resultRoundTrip() throws {
        var generator = SplitMix64(seed: 5)
        var store = KeyValueStore()
        var kinds = Set<String>()
        for _ in 0..<400 {
            let applied = store.apply(RandomWorkload.proposal(&generator, store: store))
            kinds.insert(String(describing: applied.result).prefix(while: { $0 != "(" }).description)
            #expect(try StoreResult(decoding: applied.result.encoded) == applied.result)
        }
        let transaction = try #require(
            store.apply(.transaction(Self.nested)).result.transaction.map(StoreResult.transaction))
        #expect(try StoreResult(decoding: transaction.encoded) == transaction)
        #expect(kinds.count >= 8, "the workload should produce most result kinds, got \(kinds)")
    }

    @Test("every error round-trips and says what to do")
    func errorRoundTrip() throws {
        let errors: [StoreError] = [
            .compacted(requested: 1, oldestAvailable: 2), .futureRevision(requested: 3, current: 2), .emptyKey,
            .keyTooLarge(bytes: 5, limit: 4), .valueTooLarge(bytes: 9, limit: 8), .keyNotFound(key: [0, 1]),
            .leaseNotFound(3), .leaseAlreadyExists(3), .invalidLeaseID, .invalidTTL, .leaseWithIgnoreLease,
            .tooManyTransactionOperations(count: 200, limit: 128), .transactionTooDeep(limit: 8),
            .staleSequence(client: 1, sequence: 2, latest: 3), .commandTooLarge(bytes: 10, limit: 9),
            .unsupportedFormatVersion(9), .malformed("broken"),
        ]
        for error in errors {
            #expect(try StoreResult(decoding: StoreResult.failed(error).encoded) == .failed(error))
            #expect(error.description.count > 20)
        }
        #expect(StoreError.keyNotFound(key: [0, 1]).description.contains("0x0001"))
    }

    @Test("sizes over the limits are refused before allocating")
    func limits() {
        let limits = StoreLimits(keyBytesMax: 8, valueBytesMax: 16, commandBytesMax: 100, transactionOperationsMax: 2)
        let longKey = StoreCommand.put(PutRequest(key: Array(repeating: 1, count: 9), value: []))
        #expect(throws: StoreError.malformed("key is 9 bytes, over the limit of 8")) {
            try StoreCommand(decoding: longKey.encoded, limits: limits)
        }
        let bigValue = StoreCommand.put(PutRequest(key: b("k"), value: Array(repeating: 1, count: 17)))
        #expect(throws: StoreError.malformed("value is 17 bytes, over the limit of 16")) {
            try StoreCommand(decoding: bigValue.encoded, limits: limits)
        }
        let huge = StoreCommand.put(PutRequest(key: b("k"), value: Array(repeating: 1, count: 100)))
        #expect(throws: StoreError.commandTooLarge(bytes: huge.encoded.count, limit: 100)) {
            try StoreCommand(decoding: huge.encoded, limits: limits)
        }
        let manyOperations = StoreCommand.transaction(
            TransactionRequest(compare: [], success: (0..<3).map { _ in .range(RangeRequest(key: b("k"))) }))
        #expect(throws: StoreError.tooManyTransactionOperations(count: 3, limit: 2)) {
            try StoreCommand(decoding: manyOperations.encoded, limits: limits)
        }
        // A forged length of 4 GiB is refused without reserving it.
        let forged: [UInt8] = [1, 1, 0xff, 0xff, 0xff, 0xff]
        #expect(throws: StoreError.self) { try StoreCommand(decoding: forged) }
        var wrongVersion = StoreCommand.compact(1).encoded
        wrongVersion[0] = 2
        #expect(throws: StoreError.unsupportedFormatVersion(2)) { try StoreCommand(decoding: wrongVersion) }
    }

    @Test("a transaction nested beyond the depth limit is refused by the decoder")
    func depthLimit() {
        var request = TransactionRequest(compare: [], success: [])
        for _ in 0..<9 { request = TransactionRequest(compare: [], success: [.transaction(request)]) }
        #expect(throws: StoreError.transactionTooDeep(limit: 8)) {
            try StoreCommand(decoding: StoreCommand.transaction(request).encoded)
        }
    }

    @Test("the decoders never trap on random bytes or mutated encodings, and what decodes re-encodes identically")
    func fuzz() {
        var generator = SplitMix64(seed: 0xF022)
        let samples = Self.commands.map { StoreProposal($0, session: ClientSession(client: 1, sequence: 2)).encoded }
        var store = KeyValueStore()
        var results: [[UInt8]] = []
        for _ in 0..<150 {
            results.append(store.apply(RandomWorkload.proposal(&generator, store: store)).result.encoded)
        }
        var decodedCount = 0
        for round in 0..<6_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int(generator.next() % 48)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                if generator.next() % 2 == 0 { bytes.insert(1, at: 0) }  // a valid version byte gets further
            case 1: bytes = samples[Int(generator.next() % UInt64(samples.count))]
            default: bytes = results[Int(generator.next() % UInt64(results.count))]
            }
            if round % 3 != 0 && !bytes.isEmpty {
                for _ in 0...(generator.next() % 3) {
                    switch generator.next() % 3 {
                    case 0:
                        bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                    case 1: bytes.removeLast(Int(generator.next() % UInt64(bytes.count)))
                    default:
                        bytes.insert(
                            UInt8(truncatingIfNeeded: generator.next()),
                            at: Int(generator.next() % UInt64(bytes.count + 1)))
                    }
                    if bytes.isEmpty { break }
                }
            }
            if let proposal = try? StoreProposal(decoding: bytes) {
                decodedCount += 1
                #expect(proposal.encoded == bytes)
                // Whatever decodes must also apply without trapping: the store is the next gateway.
                _ = store.apply(proposal)
            }
            _ = try? StoreCommand(decoding: bytes)
            _ = try? StoreResult(decoding: bytes)
        }
        #expect(decodedCount > 0)
    }
}
