import QuorumCodec
import QuorumConsensus
import Testing

@testable import QuorumWire

private let noop = Entry(term: 3, index: 11, kind: .noop)
private let command = Entry(term: 4, index: 12, kind: .command([1, 2, 3]))

/// One Multi-Paxos message of every kind, with every variant of its payload.
let everyPaxosMessage: [Message] = [
    .prepare(firstSlot: 11, isTransfer: false),
    .prepare(firstSlot: 1, isTransfer: true),
    .promise(PaxosPromise(commitIndex: 10, accepted: [])),
    .promise(
        PaxosPromise(
            commitIndex: 10, accepted: [AcceptedValue(round: 3, value: noop), AcceptedValue(round: 6, value: command)])),
    .accept(PaxosAccept(entries: [noop, command], commitIndex: 10, readContext: 99)),
    .accept(PaxosAccept(entries: [], commitIndex: 0, readContext: 0)),
    .accepted(PaxosAccepted(acceptedThrough: 12, requestLast: 12, readContext: 99)),
    .reject(PaxosRejection(refusedRound: 5, promisedNode: 3, compactedThrough: 0)),
    .reject(PaxosRejection(refusedRound: 7, promisedNode: 0, compactedThrough: 40)),
    .snapshot(
        Snapshot(lastIncludedIndex: 100, lastIncludedTerm: 7, configuration: Configuration(voters: [1, 2, 3]), data: [9])),
    .timeoutNow,
    .readIndexRequest(requestID: 77),
    .readIndexResponse(requestID: 77, index: 12),
    .readIndexResponse(requestID: 78, index: nil),
].map { Message(from: 1, to: 2, term: 7, payload: .paxos($0)) }

private func encoded(_ message: Message) -> [UInt8] {
    var writer = ByteWriter()
    message.encode(into: &writer)
    return writer.bytes
}

private func decodes(_ bytes: [UInt8]) -> Bool {
    var reader = ByteReader(bytes)
    guard (try? Message.decode(from: &reader)) != nil else { return false }
    return reader.remaining == 0
}

/// The header every message starts with: from 1, to 2, term 7.
private let header: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]

private func le(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

@Suite("Multi-Paxos messages on the wire")
struct PaxosMessagesTests {
    @Test("every kind of Multi-Paxos message survives encoding", arguments: everyPaxosMessage)
    func roundTrip(message: Message) throws {
        let batch = PeerMessages(group: 3, messages: [message])
        #expect(try PeerMessages(decoding: batch.frame) == batch)
    }

    @Test("Multi-Paxos tags start at 32, apart from Raft's, whose bytes are unchanged")
    func tagsAreApartAndRaftIsUnchanged() {
        for message in everyPaxosMessage { #expect(encoded(message)[24] >= 32) }
        for message in everyMessage { #expect(encoded(message)[24] <= 10) }
        let heartbeat = Message(from: 1, to: 2, term: 7, payload: .heartbeat(commitIndex: 17, readContext: 5))
        #expect(encoded(heartbeat) == header + [5] + le(17) + le(5))
        let response = Message(from: 1, to: 2, term: 7, payload: .appendEntriesResponse(.accepted(matchIndex: 99)))
        #expect(encoded(response) == header + [2, 0] + le(99))
        let accepted = Message(
            from: 1, to: 2, term: 7,
            payload: .paxos(.accepted(PaxosAccepted(acceptedThrough: 12, requestLast: 13, readContext: 99))))
        #expect(encoded(accepted) == header + [35] + le(12) + le(13) + le(99))
    }

    @Test("every truncation of a valid Multi-Paxos message is refused, and so is a padded one", arguments: everyPaxosMessage)
    func truncationsAndPadding(message: Message) {
        let bytes = encoded(message)
        #expect(decodes(bytes))
        for length in 0..<bytes.count { #expect(!decodes(Array(bytes.prefix(length))), "prefix \(length)") }
        #expect(throws: WireError.self) {
            var writer = ByteWriter()
            writer.write(contentsOf: PeerMessages(group: 1, messages: [message]).frame.payload)
            writer.write(UInt8(0))
            _ = try PeerMessages(decoding: Frame(kind: .peerMessages, payload: writer.bytes))
        }
    }

    @Test("fields out of range are refused: flags, unknown tags, slot 0, index above Int.max, disorder")
    func malformedFields() {
        // A transfer flag of 2.
        #expect(!decodes(header + [32] + le(1) + [2]))
        // A prepare from slot 0.
        #expect(!decodes(header + [32] + le(0) + [0]))
        // Tags past the last one, and between Raft's and Multi-Paxos's.
        #expect(!decodes(header + [41]))
        #expect(!decodes(header + [20]))
        // An index above Int.max.
        #expect(!decodes(header + [35] + le(UInt64(Int.max) + 1) + le(0) + le(0)))
        // A promise whose slots go backwards.
        let backwards = Message(
            from: 1, to: 2, term: 7,
            payload: .paxos(
                .promise(
                    PaxosPromise(
                        commitIndex: 0,
                        accepted: [AcceptedValue(round: 6, value: command), AcceptedValue(round: 3, value: noop)]))))
        #expect(!decodes(encoded(backwards)))
        // A promised value of a round newer than the round it was accepted in, and a round of 0.
        let newer = Message(
            from: 1, to: 2, term: 7,
            payload: .paxos(.promise(PaxosPromise(commitIndex: 0, accepted: [AcceptedValue(round: 3, value: command)]))))
        #expect(!decodes(encoded(newer)))
        let zero = Message(
            from: 1, to: 2, term: 7,
            payload: .paxos(.promise(PaxosPromise(commitIndex: 0, accepted: [AcceptedValue(round: 0, value: noop)]))))
        #expect(!decodes(encoded(zero)))
        // Accepted slots that are not consecutive.
        let gap = Message(
            from: 1, to: 2, term: 7,
            payload: .paxos(
                .accept(
                    PaxosAccept(
                        entries: [noop, Entry(term: 4, index: 13, kind: .noop)], commitIndex: 0, readContext: 0))))
        #expect(!decodes(encoded(gap)))
        // A read index response whose absent index is not zero.
        #expect(!decodes(header + [40] + le(1) + [0] + le(5)))
        // A count larger than the bytes that follow.
        #expect(!decodes(header + [34] + le(0) + le(0) + [255, 255, 255, 255]))
    }

    @Test("random mutations of Multi-Paxos messages decode or are refused, never trapped on")
    func fuzz() {
        var random = SplitMix64(seed: 12)
        let valid = PeerMessages(group: 1, messages: everyPaxosMessage).frame.payload
        for _ in 0..<3_000 {
            var payload = valid
            for _ in 0..<(1 + Int(random.next() % 4)) {
                payload[Int(random.next() % UInt64(payload.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            if let decoded = try? PeerMessages(decoding: Frame(kind: .peerMessages, payload: payload)) {
                #expect((try? PeerMessages(decoding: decoded.frame)) == decoded)
            }
        }
    }
}
