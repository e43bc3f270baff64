import Testing

@testable import QuorumSharding

@Suite("Request load of spans")
struct RequestLoadTests {
    static func b(_ text: String) -> [UInt8] { Array(text.utf8) }
    static let span = KeySpan(start: b("/h/"), end: b("/h0"))!

    @Test("the rate counts the span's requests within the window; the split key halves them")
    func rateAndSplitKey() {
        var load = RequestLoad(capacity: 1000, windowMilliseconds: 10_000)
        // 400 requests over 10 s on /h/a ... /h/t, and 100 on a key outside the span.
        for index in 0..<400 {
            let key = Self.b("/h/" + String(UnicodeScalar(UInt8(97 + index % 20))))
            load.record(key, at: Int64(index + 1) * 25)
        }
        for index in 0..<100 { load.record(Self.b("/x"), at: Int64(index) * 100) }
        let measured = load.load(of: Self.span, at: 10_000)
        #expect(measured.requestsPerSecond == 40)
        #expect(measured.splitKey == Self.b("/h/k"))
        // Requests older than the window no longer count.
        #expect(load.load(of: Self.span, at: 15_000).requestsPerSecond == 20)
        #expect(load.load(of: Self.span, at: 30_000) == SpanLoad(requestsPerSecond: 0, splitKey: nil))
    }

    @Test("a full ring measures over the time its requests cover")
    func fullRing() {
        var load = RequestLoad(capacity: 100, windowMilliseconds: 10_000)
        for index in 0..<1000 { load.record(Self.b("/h/" + String(index % 50)), at: Int64(index)) }
        // The last 100 requests came in 99 ms.
        #expect(load.load(of: Self.span, at: 999).requestsPerSecond == 100 * 1000 / 99)
    }

    @Test("no split key when one key takes most requests, too few were seen, or the median is the span's start")
    func noSplitKey() {
        var hot = RequestLoad()
        for index in 0..<100 { hot.record(Self.b(index % 5 == 0 ? "/h/a" : "/h/hot"), at: 0) }
        #expect(hot.load(of: Self.span, at: 1).splitKey == nil)
        var few = RequestLoad()
        for index in 0..<(RequestLoad.samplesMin - 1) { few.record(Self.b("/h/" + String(index)), at: 0) }
        #expect(few.load(of: Self.span, at: 1).splitKey == nil)
        few.record(Self.b("/h/z"), at: 0)
        #expect(few.load(of: Self.span, at: 1).splitKey != nil)
        var atStart = RequestLoad()
        for index in 0..<40 { atStart.record(Self.b(index < 30 ? "/h/" : "/h/" + String(index)), at: 0) }
        #expect(atStart.load(of: Self.span, at: 1).splitKey == nil)
    }
}
