import Testing

@testable import QuorumStore

@Suite("Transactions")
struct TransactionTests {
    /// A store where key "k" has value "m", version 2, createRevision 1, modRevision 2 and lease 5.
    static func seeded() -> KeyValueStore {
        var store = KeyValueStore()
        _ = store.apply(.leaseGrant(id: 5, ttl: LeaseTTL(seconds: 60), grantedAt: 0))
        store.put("k", "a")
        store.put("k", "m", lease: 5)
        return store
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var target: Comparison.Target
        var comparisonOperator: Comparison.Operator
        var holds: Bool
        var testDescription: String { "\(target) \(comparisonOperator) → \(holds)" }
    }

    static let table: [Row] = [
        Row(target: .value(b("m")), comparisonOperator: .equal, holds: true),
        Row(target: .value(b("m")), comparisonOperator: .notEqual, holds: false),
        Row(target: .value(b("n")), comparisonOperator: .less, holds: true),
        Row(target: .value(b("l")), comparisonOperator: .greater, holds: true),
        Row(target: .value(b("m")), comparisonOperator: .greater, holds: false),
        Row(target: .version(2), comparisonOperator: .equal, holds: true),
        Row(target: .version(3), comparisonOperator: .less, holds: true),
        Row(target: .version(2), comparisonOperator: .greater, holds: false),
        Row(target: .version(1), comparisonOperator: .notEqual, holds: true),
        Row(target: .createRevision(1), comparisonOperator: .equal, holds: true),
        Row(target: .createRevision(1), comparisonOperator: .less, holds: false),
        Row(target: .createRevision(0), comparisonOperator: .greater, holds: true),
        Row(target: .modRevision(2), comparisonOperator: .equal, holds: true),
        Row(target: .modRevision(3), comparisonOperator: .less, holds: true),
        Row(target: .modRevision(2), comparisonOperator: .notEqual, holds: false),
        Row(target: .lease(5), comparisonOperator: .equal, holds: true),
        Row(target: .lease(nil), comparisonOperator: .notEqual, holds: true),
        Row(target: .lease(6), comparisonOperator: .less, holds: true),
        Row(target: .lease(4), comparisonOperator: .greater, holds: true),
    ]

    @Test("a comparison on an existing key follows the table", arguments: table)
    func comparisonTable(row: Row) throws {
        var store = Self.seeded()
        let request = TransactionRequest(
            compare: [Comparison(key: b("k"), row.target, row.comparisonOperator)],
            success: [.put(PutRequest(key: b("then"), value: []))],
            failure: [.put(PutRequest(key: b("else"), value: []))])
        let response = try #require(store.apply(.transaction(request)).result.transaction)
        #expect(response.succeeded == row.holds)
        #expect(store.get(b(row.holds ? "then" : "else")) != nil)
        #expect(store.get(b(row.holds ? "else" : "then")) == nil)
    }

    static let missingKeyTable: [Row] = [
        Row(target: .value([]), comparisonOperator: .equal, holds: false),
        Row(target: .value([]), comparisonOperator: .notEqual, holds: false),
        Row(target: .version(0), comparisonOperator: .equal, holds: true),
        Row(target: .createRevision(0), comparisonOperator: .equal, holds: true),
        Row(target: .modRevision(1), comparisonOperator: .less, holds: true),
        Row(target: .lease(nil), comparisonOperator: .equal, holds: true),
    ]

    @Test("a missing key compares as version and revisions 0 and never matches on value", arguments: missingKeyTable)
    func missingKeyComparisons(row: Row) throws {
        var store = Self.seeded()
        let request = TransactionRequest(
            compare: [Comparison(key: b("absent"), row.target, row.comparisonOperator)], success: [])
        #expect(try #require(store.apply(.transaction(request)).result.transaction).succeeded == row.holds)
    }

    @Test("all writes of a transaction share one revision and reads inside it see earlier writes")
    func oneRevisionPerTransaction() throws {
        var store = Self.seeded()
        let before = store.revision
        let request = TransactionRequest(
            compare: [Comparison(key: b("k"), .version(2), .equal)],
            success: [
                .put(PutRequest(key: b("x"), value: b("1"))),
                .put(PutRequest(key: b("x"), value: b("2"))),
                .range(RangeRequest(key: b("x"))),
                .deleteRange(DeleteRangeRequest(key: b("k"))),
            ])
        let applied = store.apply(.transaction(request))
        let response = try #require(applied.result.transaction)
        #expect(response.succeeded)
        #expect(store.revision == before.next)
        #expect(response.revision == before.next)
        guard case .range(let read) = response.responses[2] else { Issue.record("expected a range"); return }
        #expect(read.kvs.first?.value == b("2"))
        #expect(applied.events.map(\.revision) == Array(repeating: before.next, count: 3))
        #expect(applied.events.map(\.kind) == [.put, .put, .delete])
        #expect(store.get(b("x"))?.version == 2)
        #expect(store.get(b("k")) == nil)
    }

    @Test("nested transactions choose their branch on the state before the outer transaction")
    func nestedTransactionsUsePreTransactionState() throws {
        var store = Self.seeded()
        let inner = TransactionRequest(
            compare: [Comparison(key: b("k"), .value(b("m")), .equal)],
            success: [.put(PutRequest(key: b("inner"), value: b("saw m")))],
            failure: [.put(PutRequest(key: b("inner"), value: b("saw z")))])
        let outer = TransactionRequest(
            compare: [], success: [.put(PutRequest(key: b("k"), value: b("z"))), .transaction(inner)])
        _ = store.apply(.transaction(outer))
        #expect(store.get(b("inner"))?.value == b("saw m"))
    }

    @Test("a transaction with an invalid operation on its path applies nothing")
    func atomicRefusal() throws {
        var store = Self.seeded()
        let (revisionBefore, contentsBefore) = (store.revision, try store.range(.all()))
        let request = TransactionRequest(
            compare: [],
            success: [.put(PutRequest(key: b("a"), value: [])), .put(PutRequest(key: b("b"), value: [], lease: 99))])
        #expect(store.apply(.transaction(request)).result.failure == .leaseNotFound(99))
        #expect(store.revision == revisionBefore)
        #expect(try store.range(.all()) == contentsBefore)
    }

    @Test("a transaction over the operation limit is refused")
    func operationLimit() {
        var store = KeyValueStore(limits: StoreLimits(transactionOperationsMax: 3))
        let operations = (0..<4).map { TransactionOperation.put(PutRequest(key: b("k\($0)"), value: [])) }
        let request = TransactionRequest(compare: [], success: operations)
        #expect(
            store.apply(.transaction(request)).result.failure == .tooManyTransactionOperations(count: 4, limit: 3))
    }

    @Test("a transaction that only reads takes no revision")
    func readOnlyTransaction() {
        var store = Self.seeded()
        let before = store.revision
        _ = store.apply(.transaction(TransactionRequest(compare: [], success: [.range(.all())])))
        #expect(store.revision == before)
    }
}
