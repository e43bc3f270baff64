import QuorumConsensus
import QuorumSharding
import QuorumStore
import Testing

@testable import QuorumWire

@Suite("Shard map requests and answers on the client port")
struct ShardMapFramesTests {
    @Test("a map change, a map read and a map answer survive their frames; a broken map is refused")
    func roundTrips() throws {
        var map = try ShardMap.founding(groups: 4).declaring(prefix: Array("/p/".utf8), owner: GroupID(2))
        map = try map.beginning(.slots(10...20), to: GroupID(3))
        map.epoch = 7
        for operation: ClientRequest.Operation in [.updateShardMap(map), .shardMap] {
            let request = ClientRequest(requestID: 5, group: ShardMap.group, operation: operation)
            #expect(try ClientRequest(decoding: request.frame) == request)
        }
        let answer = ClientResponse(requestID: 5, outcome: .shardMap(map))
        #expect(try ClientResponse(decoding: answer.frame) == answer)

        var frame = ClientRequest(requestID: 5, group: ShardMap.group, operation: .updateShardMap(map)).frame
        // The first slot range's first slot, after the header, epoch, length and map version: now 1, leaving slot
        // 0 without an owner.
        frame.payload[1 + 8 + 8 + 1 + 8 + 4 + 1 + 4] = 1
        #expect(throws: WireError.self) { try ClientRequest(decoding: frame) }
    }

    @Test("a span-load request and its answer survive their frames; a span whose end is not after its start is refused")
    func spanLoadRoundTrips() throws {
        for span in [KeySpan(prefix: Array("/hot/".utf8)), KeySpan(start: Array("m".utf8), end: nil)!] {
            let request = ClientRequest(requestID: 9, group: GroupID(2), operation: .spanLoad(span))
            #expect(try ClientRequest(decoding: request.frame) == request)
        }
        for load in [
            SpanLoad(requestsPerSecond: 120, splitKey: Array("/hot/k".utf8)),
            SpanLoad(requestsPerSecond: 0, splitKey: nil),
        ] {
            let answer = ClientResponse(requestID: 9, outcome: .spanLoad(load))
            #expect(try ClientResponse(decoding: answer.frame) == answer)
        }
        var frame = ClientRequest(
            requestID: 9, group: GroupID(2), operation: .spanLoad(KeySpan(start: [2], end: [3])!)
        ).frame
        // The end's one byte, last in the payload: now before the start.
        frame.payload[frame.payload.count - 1] = 1
        #expect(throws: WireError.self) { try ClientRequest(decoding: frame) }
    }
}
