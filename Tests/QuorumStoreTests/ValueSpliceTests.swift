import Testing

@testable import QuorumStore

/// Puts that edit the current value in place (`PutRequest.splices`), and the difference that makes them.
@Suite("Value splices")
struct ValueSpliceTests {
    @Test("the difference of two values, applied to the first, gives the second; small changes stay small")
    func differenceRoundTrips() {
        let header = [UInt8](repeating: 7, count: 8)
        let body = (0..<1_000).map { UInt8(truncatingIfNeeded: $0) }
        let cases: [([UInt8], [UInt8])] = [
            (header + body, header + b("pushed") + body),  // in front
            (header + body, header + body + b("pushed")),  // at the end
            (header + body, header + Array(body.dropFirst(10))),  // popped in front
            (header + body, header + Array(body.dropLast(10))),  // popped at the end
            ([9] + header.dropFirst() + body, header + body),  // the header alone
            (header + body, header + body),  // nothing
            ([], b("x")), (b("x"), []), (b("abc"), b("abd")),
        ]
        for (old, new) in cases {
            let splices = ValueSplice.difference(from: old, to: new, header: 8)
            #expect(ValueSplice.apply(splices, to: old) == new, "\(old.count) -> \(new.count)")
            #expect(splices.reduce(0) { $0 + $1.inserting.count } <= 8 + abs(new.count - old.count) + 1)
        }
        #expect(ValueSplice.difference(from: header + body, to: header + body, header: 8).isEmpty)
        #expect(ValueSplice.apply([ValueSplice(offset: 3, removing: 0, inserting: [])], to: [1, 2]) == nil)
        #expect(ValueSplice.apply([ValueSplice(offset: 1, removing: 2, inserting: [])], to: [1, 2]) == nil)
        #expect(ValueSplice.apply([ValueSplice(offset: -1, removing: 0, inserting: [])], to: [1, 2]) == nil)
    }

    @Test("a put with splices edits the stored value, inside a transaction too, and is refused when it cannot")
    func storeApplies() {
        var store = KeyValueStore()
        _ = store.apply(.put(PutRequest(key: b("k"), value: b("hello world"))))
        let edit = PutRequest(
            key: b("k"), value: [],
            splices: [
                ValueSplice(offset: 0, removing: 5, inserting: b("goodbye")),
                ValueSplice(offset: 13, removing: 0, inserting: b("!")),
            ])
        #expect(store.apply(.put(edit)).result.failure == nil)
        #expect(store.get(b("k"))?.value == b("goodbye world!"))
        #expect(store.get(b("k"))?.version == 2)
        let compared = TransactionRequest(
            compare: [Comparison(key: b("k"), .version(2), .equal)],
            success: [
                .put(PutRequest(key: b("k"), value: [], splices: [ValueSplice(offset: 0, removing: 8, inserting: [])]))
            ])
        _ = store.apply(.transaction(compared))
        #expect(store.get(b("k"))?.value == b("world!"))

        let past = PutRequest(key: b("k"), value: [], splices: [ValueSplice(offset: 7, removing: 0, inserting: b("x"))])
        #expect(store.apply(.put(past)).result.failure != nil)
        let missing = PutRequest(
            key: b("absent"), value: [], splices: [ValueSplice(offset: 0, removing: 0, inserting: b("x"))])
        #expect(store.apply(.put(missing)).result.failure == .keyNotFound(key: b("absent")))
        let both = PutRequest(
            key: b("k"), value: b("v"), splices: [ValueSplice(offset: 0, removing: 0, inserting: b("x"))])
        #expect(store.apply(.put(both)).result.failure != nil)
        #expect(store.get(b("k"))?.value == b("world!"), "nothing refused was written")
    }
}
