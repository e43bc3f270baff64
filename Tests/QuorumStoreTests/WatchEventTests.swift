import Testing

@testable import QuorumStore

@Suite("Watch events")
struct WatchEventTests {
    @Test("each write returns its events with kv and prevKV at its revision")
    func writesReturnEvents() throws {
        var store = KeyValueStore()
        let created = store.put("a", "1")
        #expect(created.events == [WatchEvent(kind: .put, kv: try #require(store.get(b("a"))), prevKV: nil)])
        let updated = store.put("a", "2")
        #expect(updated.events.first?.prevKV?.value == b("1"))
        #expect(updated.events.first?.kv.version == 2)
        let deleted = store.delete("a")
        let event = try #require(deleted.events.first)
        #expect(event.kind == .delete)
        #expect(event.revision == 3)
        #expect(event.kv == KeyValue(key: b("a"), value: [], createRevision: 0, modRevision: 3, version: 0))
        #expect(event.prevKV?.value == b("2"))
    }

    @Test("a watch resumes from history with the same events the writes produced")
    func resumeMatchesLiveEvents() throws {
        var store = KeyValueStore()
        var live: [WatchEvent] = []
        live += store.put("a", "1").events
        live += store.put("b", "1").events
        live += store.put("a", "2").events
        live += store.delete("a").events
        live +=
            store.apply(
                .transaction(
                    TransactionRequest(
                        compare: [],
                        success: [.put(PutRequest(key: b("c"), value: [])), .put(PutRequest(key: b("ab"), value: []))])
                )
            ).events
        #expect(try store.events(from: 1, key: [0], rangeEnd: [0]) == live)
        #expect(try store.events(from: 3, key: [0], rangeEnd: [0]) == Array(live[2...]))
        #expect(try store.events(from: 1, key: b("a")) == live.filter { $0.kv.key == b("a") })
        #expect(
            try store.events(from: 1, key: b("a"), rangeEnd: b("b")).map(\.kv.key) == [b("a"), b("a"), b("a"), b("ab")])
        #expect(try store.events(from: 1, key: [0], rangeEnd: [0], limit: 2) == Array(live[..<2]))
        #expect(try store.events(from: 99, key: [0], rangeEnd: [0]).isEmpty)
    }

    /// Pages of a long history, each bounded by events, bytes and writes looked at, concatenate to exactly the
    /// events of the whole history (transactions split across pages included), and the last one says so.
    @Test(
        "paged history is the whole history, in bounded pages",
        arguments: [(1, Int.max, Int.max), (3, Int.max, Int.max), (100, 10, Int.max), (100, Int.max, 4)])
    func pagesConcatenateToHistory(eventsMax: Int, bytesMax: Int, scannedMax: Int) throws {
        var store = KeyValueStore()
        for round in 0..<20 {
            _ = store.put("k\(round % 3)", "value \(round)")
            _ = store.apply(
                .transaction(
                    TransactionRequest(
                        compare: [],
                        success: [
                            .put(PutRequest(key: b("t\(round)"), value: [1])),
                            .put(PutRequest(key: b("k9"), value: [2])),
                        ])))
        }
        let whole = try store.events(from: 1, key: [0], rangeEnd: [0])
        var paged: [WatchEvent] = []
        var position: HistoryPosition? = HistoryPosition(revision: 1)
        var pages = 0
        while let from = position {
            let page = try store.eventPage(
                from: from, key: [0], rangeEnd: [0], eventsMax: eventsMax, bytesMax: bytesMax, scannedMax: scannedMax)
            #expect(page.events.count <= eventsMax)
            #expect(page.events.count <= scannedMax)
            if let next = page.next { #expect(next > from) }
            paged += page.events
            position = page.next
            pages += 1
        }
        #expect(paged == whole)
        #expect(pages >= whole.count / min(eventsMax, scannedMax, whole.count))
        let narrow = try store.events(from: 1, key: b("k1"))
        var narrowPaged: [WatchEvent] = []
        position = HistoryPosition(revision: 1)
        while let from = position {
            let page = try store.eventPage(
                from: from, key: b("k1"), rangeEnd: nil, eventsMax: eventsMax, bytesMax: bytesMax,
                scannedMax: scannedMax)
            narrowPaged += page.events
            position = page.next
        }
        #expect(narrowPaged == narrow)
    }

    @Test("resuming below the compacted revision fails with compacted; at it, the events are whole")
    func resumeAfterCompaction() throws {
        var store = KeyValueStore()
        var live: [WatchEvent] = []
        for round in 0..<6 { live += store.put("k\(round % 2)", "\(round)").events }
        live += store.delete("k0").events  // 7
        _ = store.apply(.compact(5))
        store.finishCompaction()
        #expect(throws: StoreError.compacted(requested: 4, oldestAvailable: 5)) {
            try store.events(from: 4, key: [0], rangeEnd: [0])
        }
        #expect(try store.events(from: 5, key: [0], rangeEnd: [0]) == Array(live[4...]))
    }
}
