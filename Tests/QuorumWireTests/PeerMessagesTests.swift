import QuorumConsensus
import Testing

@testable import QuorumWire

private let configuration = Configuration(voters: [1, 2, 3], learners: [4, 5], learnersToPromote: [5])

/// One message of every kind, with every variant of its payload.
let everyMessage: [Message] = [
    .appendEntries(
        AppendEntries(
            previousIndex: 41, previousTerm: 3,
            entries: [
                Entry(term: 3, index: 42, kind: .noop),
                Entry(term: 4, index: 43, kind: .command([1, 2, 3])),
                Entry(term: 4, index: 44, kind: .configurationChange(.addLearner(7, promoteWhenCaughtUp: true))),
                Entry(term: 4, index: 45, kind: .configurationChange(.promote(7))),
                Entry(term: 4, index: 46, kind: .configurationChange(.remove(2))),
            ], leaderCommit: 40)),
    .appendEntries(AppendEntries(previousIndex: 0, previousTerm: 0, entries: [], leaderCommit: 0)),
    .appendEntriesResponse(.accepted(matchIndex: 99)),
    .appendEntriesResponse(.rejected(rejectedIndex: 50, hintIndex: 44, hintTerm: 2)),
    .requestVote(VoteRequest(lastLogIndex: 10, lastLogTerm: 2, isPreVote: true, isLeadershipTransfer: false)),
    .requestVote(VoteRequest(lastLogIndex: 10, lastLogTerm: 2, isPreVote: false, isLeadershipTransfer: true)),
    .requestVoteResponse(granted: true, isPreVote: false),
    .requestVoteResponse(granted: false, isPreVote: true),
    .heartbeat(commitIndex: 17, readContext: 5),
    .heartbeatResponse(readContext: 5),
    .installSnapshot(
        Snapshot(lastIncludedIndex: 100, lastIncludedTerm: 7, configuration: configuration, data: [9, 8, 7])),
    .timeoutNow,
    .readIndexRequest(requestID: 77),
    .readIndexResponse(requestID: 77, index: 12),
    .readIndexResponse(requestID: 78, index: nil),
].map { Message(from: 1, to: 2, term: 7, payload: $0) }

@Suite("Peer messages")
struct PeerMessagesTests {
    @Test("every kind of message survives encoding", arguments: everyMessage)
    func roundTrip(message: Message) throws {
        let batch = PeerMessages(group: 3, messages: [message])
        #expect(try PeerMessages(decoding: batch.frame) == batch)
    }

    @Test("a batch keeps each group's messages apart and in order")
    func batchRoundTrip() throws {
        let batch = PeerMessages(groups: [
            .init(group: 12, messages: everyMessage), .init(group: 3, messages: []),
            .init(group: 9, messages: everyMessage.reversed()),
        ])
        let decoded = try PeerMessages(decoding: batch.frame)
        #expect(decoded.groups.map(\.group) == [12, 3, 9])
        #expect(decoded.groups[0].messages == everyMessage)
        #expect(decoded.groups[2].messages == everyMessage.reversed())
    }

    @Test("a version-1 batch of one group is still read; a group twice in one batch is refused")
    func versionsAndDuplicates() throws {
        let versionTwo = PeerMessages(group: 5, messages: everyMessage).frame.payload
        // Version 1 is version 2 without the group count.
        let versionOne = [1] + Array(versionTwo.dropFirst(5))
        let decoded = try PeerMessages(decoding: Frame(kind: .peerMessages, payload: versionOne))
        #expect(decoded == PeerMessages(group: 5, messages: everyMessage))
        let twice = PeerMessages(groups: [.init(group: 5, messages: []), .init(group: 5, messages: [])])
        #expect(throws: WireError.self) { try PeerMessages(decoding: twice.frame) }
    }

    @Test("a hello names the caller and its cluster")
    func hello() throws {
        #expect(try PeerHello(decoding: PeerHello(node: 9).frame) == PeerHello(node: 9))
        let announcing = PeerHello(node: 9, redisPort: 7211, httpPort: 7301, clusterID: 0xfeed, clusterGroups: 3)
        #expect(try PeerHello(decoding: announcing.frame) == announcing)
        #expect(try PeerHello(decoding: PeerHello(node: 9, httpPort: 7301).frame).redisPort == nil)
        // A version-1 hello, from a node before the Redis port was announced, still names its caller.
        let versionOne = Frame(kind: .peerHello, payload: [1, 9, 0, 0, 0, 0, 0, 0, 0])
        #expect(try PeerHello(decoding: versionOne) == PeerHello(node: 9))
        // Version 3 names no group count; version 2 no cluster; a truncated version 3 and an unknown version 5 are
        // refused.
        let versionThree = Frame(kind: .peerHello, payload: Array(announcing.frame.payload.dropLast(4)))
        #expect(throws: WireError.self) { try PeerHello(decoding: versionThree) }
        let relabelled = Frame(kind: .peerHello, payload: [3] + versionThree.payload.dropFirst())
        #expect(try PeerHello(decoding: relabelled).clusterGroups == nil)
        #expect(try PeerHello(decoding: relabelled).clusterID == 0xfeed)
        let versionTwo = Frame(kind: .peerHello, payload: [2, 9, 0, 0, 0, 0, 0, 0, 0, 0x8b, 0x1c, 0, 0])
        #expect(try PeerHello(decoding: versionTwo) == PeerHello(node: 9, redisPort: 7307))
        #expect(throws: WireError.self) {
            try PeerHello(decoding: Frame(kind: .peerHello, payload: [3, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
        }
        #expect(throws: WireError.self) {
            try PeerHello(decoding: Frame(kind: .peerHello, payload: [5] + Array(announcing.frame.payload.dropFirst())))
        }
        #expect(throws: WireError.self) {
            try PeerHello(decoding: Frame(kind: .peerHello, payload: [1, 0, 0, 0, 0, 0, 0, 0, 0]))
        }
    }

    @Test("a membership notice survives encoding; truncated, padded or mislabelled ones are refused")
    func membershipNotice() throws {
        let notice = MembershipNotice(group: 1, removed: 3, leader: 2, term: 7, configurationIndex: 41, nonce: 99)
        let frame = notice.frame
        #expect(try MembershipNotice(decoding: frame) == notice)
        // Version 1 had no nonce: it reads as unsolicited.
        let versionOne = Frame(kind: .membershipNotice, payload: [1] + Array(frame.payload.dropFirst().dropLast(8)))
        var unsolicited = notice
        unsolicited.nonce = 0
        #expect(try MembershipNotice(decoding: versionOne) == unsolicited)
        for length in 0..<frame.payload.count {
            #expect(throws: WireError.self) {
                try MembershipNotice(
                    decoding: Frame(kind: .membershipNotice, payload: Array(frame.payload.prefix(length))))
            }
        }
        #expect(throws: WireError.self) {
            try MembershipNotice(decoding: Frame(kind: .membershipNotice, payload: frame.payload + [0]))
        }
        #expect(throws: WireError.self) {
            try MembershipNotice(decoding: Frame(kind: .peerHello, payload: frame.payload))
        }
        #expect(throws: WireError.self) { try PeerMessages(decoding: frame) }
    }

    @Test("a membership query survives encoding; a zero nonce, truncation or padding is refused")
    func membershipQuery() throws {
        let query = MembershipQuery(group: 4, nonce: 0xfeed)
        #expect(try MembershipQuery(decoding: query.frame) == query)
        let payload = query.frame.payload
        for length in 0..<payload.count {
            #expect(throws: WireError.self) {
                try MembershipQuery(decoding: Frame(kind: .membershipQuery, payload: Array(payload.prefix(length))))
            }
        }
        #expect(throws: WireError.self) {
            try MembershipQuery(decoding: Frame(kind: .membershipQuery, payload: payload + [0]))
        }
        #expect(throws: WireError.self) { try MembershipQuery(decoding: MembershipQuery(group: 4, nonce: 0).frame) }
    }

    @Test("a publication survives encoding; truncation, padding, a length past the end or another version is refused")
    func publication() throws {
        let publication = Publication(channel: Array("news".utf8), message: Array("hello\r\n\u{0}".utf8))
        #expect(try Publication(decoding: publication.frame) == publication)
        let sharded = Publication(channel: [], message: [], sharded: true)
        #expect(try Publication(decoding: sharded.frame) == sharded)
        var notABool = sharded.frame.payload
        notABool[1] = 2
        #expect(throws: WireError.self) { try Publication(decoding: Frame(kind: .publication, payload: notABool)) }
        let payload = publication.frame.payload
        for length in 0..<payload.count {
            #expect(throws: WireError.self) {
                try Publication(decoding: Frame(kind: .publication, payload: Array(payload.prefix(length))))
            }
        }
        #expect(throws: WireError.self) { try Publication(decoding: Frame(kind: .publication, payload: payload + [0])) }
        var oversized = payload
        oversized.replaceSubrange(2..<6, with: [0xff, 0xff, 0xff, 0xff])
        #expect(throws: WireError.self) { try Publication(decoding: Frame(kind: .publication, payload: oversized)) }
        #expect(throws: WireError.self) { try Publication(decoding: Frame(kind: .publication, payload: [2] + payload.dropFirst())) }
        #expect(throws: WireError.self) { try Publication(decoding: Frame(kind: .peerMessages, payload: payload)) }
    }

    @Test("every truncation of a valid batch is refused, never trapped on")
    func truncations() {
        let payload = PeerMessages(group: 1, messages: everyMessage).frame.payload
        for length in 0..<payload.count {
            #expect(throws: WireError.self) {
                try PeerMessages(decoding: Frame(kind: .peerMessages, payload: Array(payload.prefix(length))))
            }
        }
    }

    @Test("random and mutated payloads decode or are refused, never trapped on")
    func fuzz() {
        var random = SplitMix64(seed: 2026)
        let valid = PeerMessages(groups: [
            .init(group: 1, messages: everyMessage), .init(group: 2, messages: everyMessage),
        ]).frame.payload
        for round in 0..<3_000 {
            var payload: [UInt8]
            if round % 2 == 0 {
                payload = (0..<Int(random.next() % 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else {
                payload = valid
                for _ in 0..<(1 + Int(random.next() % 4)) {
                    payload[Int(random.next() % UInt64(payload.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            }
            if let decoded = try? PeerMessages(decoding: Frame(kind: .peerMessages, payload: payload)) {
                // Whatever decodes is a well-formed batch that survives another round trip unchanged.
                #expect((try? PeerMessages(decoding: decoded.frame)) == decoded)
            }
        }
    }
}
