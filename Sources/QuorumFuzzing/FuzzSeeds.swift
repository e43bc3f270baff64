import NIOCore
import QuorumCodec
import QuorumConsensus
import QuorumSharding
import QuorumStorage
import QuorumStore
import QuorumWire

extension FuzzTarget {
    /// Inputs the fuzzer starts from: what the real encoders write, a few of every kind, and some edge cases.
    /// `QuorumFuzzingTests` writes them to `Fuzz/Corpus/<target>/` when asked, and runs them.
    public var seeds: [[UInt8]] {
        switch self {
        case .frameStream:
            let frames =
                FuzzSeeds.peerFrames + FuzzSeeds.clientRequests.map(\.frame)
                + FuzzSeeds.clientResponses.map(\.frame)
            let parts = FrameParts.split(FuzzSeeds.peerFrames[0], frameBytesMax: 40)
            return frames.map(\.encoded) + [
                frames.flatMap(\.encoded), parts.flatMap(\.encoded), Array(repeating: 0, count: 12),
            ]
        case .peerMessages:
            return FuzzSeeds.peerMessages.map(\.frame.payload) + [[2, 0, 0, 0, 0], [1]]
        case .peerControl:
            let kinds: [FrameKind] = [.peerHello, .membershipNotice, .membershipQuery, .publication]
            return FuzzSeeds.peerFrames.compactMap { frame in
                kinds.firstIndex(of: frame.kind).map { [UInt8($0)] + frame.payload }
            }
        case .clientRequest:
            return FuzzSeeds.clientRequests.map(\.frame.payload)
        case .clientResponse:
            return FuzzSeeds.clientResponses.map(\.frame.payload)
        case .resp:
            let replies: [RESPValue] = [
                .simpleString("OK"), .error("ERR unknown command"), .integer(-42), .null, .double(1.5),
                .boolean(true), .bigNumber("-12345678901234567890"),
                .verbatimString(format: "txt", text: Array("hi".utf8)),
                .map([.init(.bulkString("a"), .integer(1))]), .set([.integer(1)]), .push([.bulkString("message")]),
                .array([.array([.bulkString("nested")]), .nullArray]),
            ]
            let streams =
                [
                    RESPValue.command(["SET", "key", "value"]).encoded(), Array("PING\r\n".utf8),
                    Array("set \"a\\x41\" 'b\\'c'\r\n\r\n".utf8),
                    Array("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n".utf8),
                ]
                + replies.map { $0.encoded(protocolVersion: 3) } + replies.map { $0.encoded(protocolVersion: 2) }
            // The first byte is where the second reading splits the stream.
            return streams.map { [128] + $0 }
        case .httpFramer:
            let requests = [
                "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n\r\n",
                "POST /v1/kv/a HTTP/1.1\r\nContent-Length: 5\r\nConnection: keep-alive, x-hop\r\nx-hop: 1\r\n\r\nhello",
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\n",
                "\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            ]
            let responses = [
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                "HTTP/1.0 200 OK\r\n\r\nuntil the connection closes",
                "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            ]
            // The first byte picks the role (and HEAD), the second the split.
            return requests.map { [0, 128] + Array($0.utf8) } + responses.map { [1, 128] + Array($0.utf8) }
                + [[3, 128] + Array(responses[0].utf8)]
        case .httpBodies:
            // What clients send, what they get wrong (each refusal explained differently), and the edges of the
            // conversions: URL-safe and unpadded base64, percent signs, lease ids with a prefix, a TTL that saturates,
            // grants in either encoding and with an access that names none.
            let bodies = [
                #"{"value": "hello"}"#,
                #"{"value": "caf\u00e9 %41%zz", "lease": "0x7fffffffffffffff", "encoding": "utf8"}"#,
                #"{"value": "aGk-_w", "encoding": "base64", "lease": "ff"}"#,
                #"{"value": "aGk=", "encoding": "base64"}"#,
                #"{"value": "***", "encoding": "base64"}"#, #"{"value": "v", "encoding": "rot13"}"#,
                #"{"value": "v", "lease": "not-hex"}"#, #"{"ttl": 10}"#, #"{"ttl": 18446744073709551615}"#,
                #"{"ttl": -3}"#,
                #"{"name": "alice", "password": "p\u0000ss\ud83d\ude00"}"#, #"{"name": "alice"}"#, #"{"value": 5}"#,
                #"{"value": null}"#, "[1]", "{not json", "",
                #"{"password": "new"}"#, #"{"prefix": "app/", "access": "ReadWrite"}"#,
                #"{"prefix": "AP8=", "access": "read", "encoding": "base64"}"#,
                #"{"prefix": "app/", "access": "admin"}"#,
            ]
            return bodies.map { Array($0.utf8) }
        case .storeCommand:
            let (_, results, events) = FuzzSeeds.history
            return FuzzSeeds.storeCommands.map { [0] + $0.encoded }
                + FuzzSeeds.storeCommands.map {
                    [1] + StoreProposal($0, session: ClientSession(client: 7, sequence: 3)).encoded
                }
                + results.map { [2] + $0.encoded } + [[3] + WatchEvent.encode(events)]
        case .storeSnapshot:
            return [FuzzSeeds.history.store.snapshot(), KeyValueStore().snapshot()]
        case .snapshotFile:
            let file = SnapshotStore.encodeFile(
                Snapshot(
                    lastIncludedIndex: 9, lastIncludedTerm: 2,
                    configuration: Configuration(voters: [1, 2, 3], learners: [4]),
                    data: FuzzSeeds.history.store.snapshot()))
            // The first byte: checksums as they are (0) or made to match (1); the second: the chunk size.
            return [[0, 15] + file, [1, 255] + file, [0, 0] + Array(file.prefix(12))]
        case .walRecovery:
            let segment = FuzzSeeds.segment
            // The first byte: checksums as they are (0) or made to match (1). The second seed is torn.
            return [[0] + segment, [1] + segment.dropLast(3), [1] + segment.prefix(30)]
        }
    }
}

/// Values of every kind, encoded by the real encoders.
enum FuzzSeeds {
    static let configuration = Configuration(voters: [1, 2, 3], learners: [4, 5], learnersToPromote: [5])
    static let entries = [
        Entry(term: 3, index: 42, kind: .noop), Entry(term: 4, index: 43, kind: .command([1, 2, 3])),
        Entry(term: 4, index: 44, kind: .configurationChange(.addLearner(7, promoteWhenCaughtUp: true))),
        Entry(term: 4, index: 45, kind: .configurationChange(.remove(2))),
    ]
    static let snapshot = Snapshot(
        lastIncludedIndex: 100, lastIncludedTerm: 7, configuration: configuration, data: [9, 8])

    static let raftPayloads: [Message.Payload] = [
        .appendEntries(AppendEntries(previousIndex: 41, previousTerm: 3, entries: entries, leaderCommit: 40)),
        .appendEntriesResponse(.accepted(matchIndex: 99)),
        .appendEntriesResponse(.rejected(rejectedIndex: 50, hintIndex: 44, hintTerm: 2)),
        .requestVote(VoteRequest(lastLogIndex: 10, lastLogTerm: 2, isPreVote: true, isLeadershipTransfer: false)),
        .requestVoteResponse(granted: true, isPreVote: false), .heartbeat(commitIndex: 17, readContext: 5),
        .heartbeatResponse(readContext: 5), .installSnapshot(snapshot), .timeoutNow, .readIndexRequest(requestID: 77),
        .readIndexResponse(requestID: 77, index: 12), .readIndexResponse(requestID: 78, index: nil),
    ]
    static let paxosPayloads: [PaxosMessage] = [
        .prepare(firstSlot: 11, isTransfer: false),
        .promise(PaxosPromise(commitIndex: 10, accepted: [AcceptedValue(round: 3, value: entries[1])])),
        .accept(PaxosAccept(entries: entries, commitIndex: 10, readContext: 99)),
        .accepted(PaxosAccepted(acceptedThrough: 12, requestLast: 12, readContext: 99)),
        .reject(PaxosRejection(refusedRound: 5, promisedNode: 3, compactedThrough: 0)), .snapshot(snapshot),
        .timeoutNow, .readIndexRequest(requestID: 77), .readIndexResponse(requestID: 77, index: 12),
    ]
    static let messages = (raftPayloads + paxosPayloads.map { .paxos($0) }).map {
        Message(from: 1, to: 2, term: 7, payload: $0)
    }
    static let peerMessages =
        [
            PeerMessages(groups: [.init(group: 1, messages: Array(messages.prefix(8))), .init(group: 9, messages: [])])
        ] + messages.map { PeerMessages(group: 3, messages: [$0]) }

    static let peerFrames: [Frame] =
        peerMessages.map(\.frame) + [
            PeerHello(node: 9).frame,
            PeerHello(node: 9, redisPort: 7211, httpPort: 7301, clusterID: 0xfeed, clusterGroups: 3).frame,
            MembershipNotice(group: 2, removed: 3, leader: 1, term: 5, configurationIndex: 40, nonce: 77).frame,
            MembershipQuery(group: 2, nonce: 77).frame,
            Publication(channel: Array("news".utf8), message: Array("hello".utf8), sharded: true).frame,
        ]

    static let selector = KeySelector.slots(0...99)
    static let storeCommands: [StoreCommand] = [
        .put(PutRequest(key: Array("a".utf8), value: Array("1".utf8), lease: 5, prevKV: true)),
        .put(PutRequest(key: Array("queue/".utf8), value: [], sequential: true)),
        .range(RangeRequest(key: Array("a".utf8), rangeEnd: Array("z".utf8), limit: 10, revision: 3, keysOnly: true)),
        .deleteRange(DeleteRangeRequest(key: Array("a".utf8), rangeEnd: [0], prevKV: true)),
        .transaction(
            TransactionRequest(
                compare: [
                    Comparison(key: Array("a".utf8), .value(Array("1".utf8)), .equal),
                    Comparison(key: Array("b".utf8), .modRevision(4), .less),
                    Comparison(key: Array("c".utf8), .lease(nil), .equal),
                ],
                success: [
                    .put(PutRequest(key: Array("b".utf8), value: [2])), .range(RangeRequest(key: Array("a".utf8))),
                ],
                failure: [
                    .transaction(TransactionRequest(compare: [], success: [.deleteRange(DeleteRangeRequest(key: [1]))]))
                ])),
        .compact(3), .leaseGrant(id: 5, ttl: LeaseTTL(seconds: 10), grantedAt: 1000), .leaseKeepAlive(id: 5, at: 2000),
        .leaseRevoke(5), .closeSession(7), .importKeys(selector, from: 2), .releaseKeys(selector, to: 2),
        .exportKeys(selector, after: Array("a".utf8), limit: 10),
        .adoptKeys([
            MovedKey(
                key: Array("k".utf8), value: [1], lease: MovedLease(id: 5, ttl: LeaseTTL(seconds: 1), deadline: 9)),
            MovedKey(key: Array("l".utf8), value: [], lease: nil),
        ]),
        .finishImport(.span(KeySpan(prefix: Array("users/".utf8)))), .dropKeys(selector),
        .declareKeyspace(prefix: Array("users/".utf8), ownedHere: true),
        .put(
            PutRequest(
                key: Array("list".utf8), value: [],
                splices: [
                    ValueSplice(offset: 0, removing: 1, inserting: [9]),
                    ValueSplice(offset: 4, removing: 0, inserting: []),
                ])),
    ]

    /// A store that went through a little of everything, and what each step returned.
    static let history: (store: KeyValueStore, results: [StoreResult], events: [WatchEvent]) = {
        var store = KeyValueStore()
        var results: [StoreResult] = []
        var events: [WatchEvent] = []
        for command in storeCommands.prefix(9) + [.put(PutRequest(key: Array("b".utf8), value: [3]))] {
            let applied = store.apply(command)
            results.append(applied.result)
            events += applied.events
        }
        return (store, results, events)
    }()

    static let clientRequests: [ClientRequest] = {
        let operations: [ClientRequest.Operation] = [
            .write(StoreProposal(storeCommands[0], session: ClientSession(client: 7, sequence: 3))),
            .read(RangeRequest(key: Array("a".utf8), rangeEnd: Array("b".utf8)), linearizable: true), .status,
            .membership(.add(4, address: "127.0.0.1:7004:7104", staysLearner: false)), .membership(.remove(2)),
            .membership(.transferLeadership(to: 3)), .watch(key: Array("a".utf8), rangeEnd: [0], startRevision: 5),
            .watch(key: [], rangeEnd: nil, startRevision: nil), .cancelWatch(requestID: 12), .leases, .groups,
            .createReplica, .backup, .updateShardMap(ShardMap.founding(groups: 3)), .shardMap,
            .access(.authenticate(user: "root", password: "secret")), .access(.authenticateWithToken("token")),
            .access(.summary), .access(.grantRole(user: "ann", role: "reader")),
            .access(.grantPermission(role: "reader", KeyPermission(prefix: Array("app/".utf8), access: .read))),
            .access(.revokePermission(role: "reader", prefix: Array("app/".utf8))),
            .spanLoad(KeySpan(prefix: Array("/hot/".utf8))), .spanLoad(KeySpan(start: Array("m".utf8), end: nil)!),
        ]
        return operations.enumerated().map {
            ClientRequest(requestID: UInt64($0.offset + 1), group: 1, operation: $0.element)
        }
    }()

    static let clientResponses: [ClientResponse] = {
        let (store, results, events) = history
        let outcomes: [ClientResponse.Outcome] =
            results.map { .result($0) } + [
                .notLeader(leader: 2, clientAddress: "127.0.0.1:7102"), .notLeader(leader: nil, clientAddress: ""),
                .failed("no"), .unavailable("leader changed"),
                .status(
                    NodeStatus(
                        node: 1, role: "leader", term: 3, leader: 1, commitIndex: 9, appliedIndex: 9, lastIndex: 10,
                        voters: [1, 2, 3], learners: [4])),
                .watchEvents(events), .watchEnded(reason: "cancelled", resumeRevision: 7),
                .leases([
                    LeaseStatus(
                        id: 5, grantedTTL: LeaseTTL(seconds: 10), remainingSeconds: 4, deadline: 99, keys: [[1], [2]])
                ]),
                .groups([
                    GroupStatus(
                        group: 1, role: "follower", term: 3, leader: 2, commitIndex: 9, appliedIndex: 8,
                        voters: [1, 2, 3],
                        learners: [4])
                ]),
                .backup(
                    GroupBackup(
                        group: 1, clusterID: 0xfeed, clusterGroups: 3, revision: 4, appliedIndex: 9,
                        store: store.snapshot())),
                .shardMap(ShardMap.founding(groups: 2)),
                .access(.authenticated(user: "root", token: "token")),
                .access(
                    .summary(
                        AccessSummary(
                            enabled: true, users: ["root": ["root"], "ann": ["reader"]],
                            roles: ["reader": [KeyPermission(prefix: Array("app/".utf8), access: .readWrite)]]))),
                .spanLoad(SpanLoad(requestsPerSecond: 120, splitKey: Array("/hot/k".utf8))),
                .spanLoad(SpanLoad(requestsPerSecond: 0, splitKey: nil)),
            ]
        return outcomes.enumerated().map { ClientResponse(requestID: UInt64($0.offset + 1), outcome: $0.element) }
    }()

    /// A log segment as the real log writes it: several groups, a snapshot reset, a tombstone and a revival.
    static let segment: [UInt8] = {
        let directory = StorageHarness.scratchDirectory + "/seed-wal"
        let options = WriteAheadLog.Options(preallocate: false, io: StorageHarness.UnsyncedFileIO())
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory, options: options)
            try log.append(HardState(term: 3, votedFor: 1, commitIndex: 42), for: 1)
            try log.append(entries, for: 1)
            try log.append(Array(entries.prefix(2)), for: 2)
            try log.appendSnapshotReset(SnapshotPoint(index: 50, term: 4), for: 2)
            try log.appendTombstone(for: 3)
            try log.appendRevival(for: 3)
            try log.appendTombstone(for: 4)
            try log.flush()
            log.close()
            defer { try? StorageHarness.removeFiles(in: directory) }
            return try StorageHarness.readFile(directory + "/wal-0000000000000000.log")
        } catch {
            fatalError("writing the seed log failed: \(error)")
        }
    }()
}
