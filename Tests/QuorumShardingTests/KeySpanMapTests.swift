import QuorumConsensus
import Testing

@testable import QuorumSharding

@Suite("Key spans and the maps over them")
struct KeySpanMapTests {
    static func b(_ text: String) -> [UInt8] { Array(text.utf8) }
    static func span(_ start: String, _ end: String?) -> KeySpan { KeySpan(start: b(start), end: end.map(b))! }

    @Test("a span contains the keys from its start up to, not including, its end; a prefix's span holds its keys")
    func containment() {
        let span = Self.span("b", "d")
        #expect(span.contains(Self.b("b")) && span.contains(Self.b("c\u{ff}")))
        #expect(!span.contains(Self.b("d")) && !span.contains(Self.b("a")))
        #expect(KeySpan(start: Self.b("d"), end: Self.b("d")) == nil)
        let prefix = KeySpan(prefix: Self.b("/logs/"))
        #expect(prefix.contains(Self.b("/logs/x")) && !prefix.contains(Self.b("/logt")))
        #expect(KeySpan(prefix: [0xff, 0xff]).end == nil)
        #expect(prefix.covers(Self.span("/logs/a", "/logs/b")) && !prefix.covers(Self.span("/logs/a", "/m")))
    }

    @Test("setting spans cuts what they overlap and merges equal neighbours, so equal maps compare equal")
    func setAndMerge() {
        var map = KeySpanMap<Int>()
        map.set(Self.span("a", "z"), to: 1)
        map.set(Self.span("f", "k"), to: 2)
        #expect(map.pieces.map(\.value) == [1, 2, 1])
        #expect(map.value(at: Self.b("g")) == 2 && map.value(at: Self.b("k")) == 1 && map.value(at: Self.b("z")) == nil)
        map.set(Self.span("f", "k"), to: 1)
        var whole = KeySpanMap<Int>()
        whole.set(Self.span("a", "z"), to: 1)
        #expect(map == whole)
        map.set(Self.span("c", "e"), to: nil)
        #expect(map.parts(of: Self.span("b", "f")).map(\.value) == [1, nil, 1])
        #expect(
            map.parts(of: Self.span("b", "f")).map(\.span) == [
                Self.span("b", "c"), Self.span("c", "e"), Self.span("e", "f"),
            ])
        #expect(map.parts(of: KeySpan(start: Self.b("y"), end: nil)!).map(\.value) == [1, nil])
    }

    @Test("a range-sharded keyspace: declared, split by moving its upper part, merged back; owners follow")
    func keyspaceLifecycle() throws {
        let founding = ShardMap.founding(groups: 3)
        let declared = try founding.declaring(prefix: Self.b("/logs/"), owner: GroupID(1))
        #expect(declared.owner(ofKey: Self.b("/logs/a")) == GroupID(1))
        #expect(throws: ShardMapError.self) { try declared.declaring(prefix: Self.b("/logs/x/"), owner: GroupID(2)) }
        #expect(throws: ShardMapError.self) { try declared.declaring(prefix: Self.b("/"), owner: GroupID(2)) }
        let upper = Self.span("/logs/m", "/logs0")
        let moving = try declared.beginning(.span(upper), to: GroupID(2))
        let split = moving.finishing(moving.migrations[0])
        #expect(split.owner(ofKey: Self.b("/logs/a")) == GroupID(1))
        #expect(split.owner(ofKey: Self.b("/logs/q")) == GroupID(2))
        #expect(split.keyspaces[0].owners.pieces.count == 2)
        // Outside the keyspace, or across two owners, a span cannot move.
        #expect(throws: ShardMapError.self) { try split.beginning(.span(Self.span("/a", "/b")), to: GroupID(3)) }
        #expect(throws: ShardMapError.self) {
            try split.beginning(.span(Self.span("/logs/a", "/logs/z")), to: GroupID(3))
        }
        let merging = try split.beginning(.span(upper), to: GroupID(1))
        let merged = merging.finishing(merging.migrations[0])
        #expect(merged.keyspaces == declared.keyspaces)
        let decoded = try ShardMap(decoding: moving.encoded, epoch: 9)
        #expect(decoded.keyspaces == moving.keyspaces && decoded.migrations == moving.migrations)
        #expect(try ShardMap(decoding: split.encoded, epoch: 9).keyspaces == split.keyspaces)
    }

    @Test("a split's upper half goes to the other group owning the fewest spans, the lowest id on a tie")
    func splitTargets() throws {
        var map = try ShardMap.founding(groups: 3).declaring(prefix: Self.b("/a/"), owner: GroupID(1))
        #expect(map.splitTarget(from: GroupID(1)) == GroupID(2))
        let moving = try map.beginning(.span(Self.span("/a/m", "/a0")), to: GroupID(2))
        map = moving.finishing(moving.migrations[0])
        #expect(map.splitTarget(from: GroupID(1)) == GroupID(3))
        #expect(map.splitTarget(from: GroupID(2)) == GroupID(3))
        #expect(ShardMap.founding(groups: 1).splitTarget(from: GroupID(1)) == nil)
    }

    @Test("the neighbouring pair holding fewest keys within the limits merges, the first such pair on a tie")
    func mergeCandidates() {
        func candidate(_ keys: [Int], _ keysMax: Int, requests: [Int]? = nil, requestsMax: Int = .max) -> Int? {
            let requests = requests ?? keys.map { _ in 0 }
            let spans = zip(keys, requests).map { SpanSize(keys: $0, requestsPerSecond: $1) }
            return ShardMap.mergeCandidate(spans, keysMax: keysMax, requestsPerSecondMax: requestsMax)
        }
        #expect(candidate([], 10) == nil)
        #expect(candidate([3], 10) == nil)
        #expect(candidate([6, 6], 10) == nil)
        #expect(candidate([6, 4], 10) == 1)
        #expect(candidate([9, 1, 2, 9], 10) == 2)
        #expect(candidate([2, 2, 2], 10) == 1)
        #expect(candidate([40, 0, 0, 40], 0) == 2)
        // A hot pair stays apart, however few its keys.
        #expect(candidate([1, 1, 3, 3], 10, requests: [50, 60, 60, 10], requestsMax: 100) == 3)
        #expect(candidate([1, 1], 10, requests: [50, 60], requestsMax: 100) == nil)
    }
}
