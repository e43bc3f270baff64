import Foundation
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumStore
import Testing

/// Moving hash slots between groups of a running cluster (docs/sharding.md), with real `quorum server` processes,
/// redis-cli in cluster mode and redis-py's `RedisCluster`. An extension of `ClusterTests`, so that it runs
/// serialized with the other clusters.
extension ClusterTests {
    @Test(
        "a slot move: the source answers ASK once it released the slot, redis-cli -c follows it, and a stopped move resumes",
        .enabled(if: RedisTools.cli != nil, "redis-cli not found: install the Debian package redis-tools"))
    func slotMoveStepByStep() async throws {
        let (cluster, client) = try await Self.startRedisCluster()
        defer { cluster.stopAll() }
        let ports = try cluster.members.map { try #require($0.redisPort) }
        func cli(_ port: Int, _ arguments: String...) async throws -> String {
            try await RedisTools.cli(port: port, arguments)
        }
        // "foo" is in slot 12182, which the founding map gives group 3.
        let slot = HashSlot(key: Array("foo".utf8)).rawValue
        #expect(try await cli(ports[0], "-c", "SET", "foo", "before") == "OK")
        #expect(try await cli(ports[0], "-c", "SET", "bar", "stays") == "OK")

        // A mover that stops after the copy: the map records the move, both groups took their steps.
        let metadata = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: ShardMap.group)
        let source = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(3))
        let target = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(1))
        let founding = try await metadata.shardMap()
        #expect(founding.epoch == 0)
        #expect(try await metadata.updateShardMap(try founding.beginning(.slots(slot...slot), to: GroupID(1))))
        #expect(try await metadata.updateShardMap(try founding.beginning(.slots(slot...slot), to: GroupID(2))) == false)
        _ = try await target.moveStep(.importKeys(.slots(slot...slot), from: GroupID(3)))
        _ = try await source.moveStep(.releaseKeys(.slots(slot...slot), to: GroupID(1)))

        // The source's leader sends the client to the target's leader with ASK; every other node still says MOVED
        // (the map has not changed hands yet). The target refuses until the import is finished.
        var answers: [String] = []
        for port in ports { answers.append(try await cli(port, "GET", "foo")) }
        let asks = answers.filter { $0.hasPrefix("ASK \(slot) 127.0.0.1:") }
        #expect(asks.count == 1, "\(answers)")
        #expect(answers.filter { $0.hasPrefix("MOVED \(slot) 127.0.0.1:") }.count == 2, "\(answers)")
        #expect(try await cli(ports[0], "-c", "GET", "foo").hasPrefix("TRYAGAIN"))

        let page = try await source.moveStep(.exportKeys(.slots(slot...slot), after: [], limit: 100))
        guard case .keysExported(let keys, nil, _) = page else {
            Issue.record("not one whole export page: \(page)")
            return
        }
        #expect(keys.map(\.key) == [Array("foo".utf8)])
        _ = try await target.moveStep(.adoptKeys(keys))
        _ = try await target.moveStep(.finishImport(.slots(slot...slot)))
        // Now ASK leads somewhere that serves the key: redis-cli -c sends ASKING and is served.
        #expect(try await cli(ports[1], "-c", "GET", "foo") == "before")
        #expect(try await cli(ports[2], "-c", "SET", "foo", "during") == "OK")

        // Resuming repeats every step (each is harmless to repeat) and hands the slot over in the map.
        let mover = ShardMover(endpoints: cluster.clientEndpoints)
        // A move to a group no node hosts is refused and leaves the map as it was.
        await #expect(throws: QuorumClientError.self) { try await mover.move(.slots(5...5), to: GroupID(99)) }
        #expect(try await metadata.shardMap().epoch == 1)
        let resumed = try await mover.resumeAll()
        #expect(resumed.migrations.isEmpty)
        #expect(resumed.assignment.group(of: HashSlot(slot)!) == GroupID(1))
        #expect(try await metadata.shardMap().epoch == 2)
        for port in ports {
            let answer = try await cli(port, "GET", "foo")
            #expect(answer == "during" || answer.hasPrefix("MOVED \(slot) 127.0.0.1:"), "\(answer)")
        }
        #expect(try await cli(ports[0], "-c", "GET", "foo") == "during")
        #expect(try await cli(ports[0], "-c", "GET", "bar") == "stays")
        #expect(try await cli(ports[0], "CLUSTER", "INFO").contains("cluster_current_epoch:2"))
        // The source kept nothing: asked directly, it refuses the slot.
        await #expect(throws: QuorumClientError.store(.keyMoved(key: Array("foo".utf8), to: GroupID(1)))) {
            try await source.get(Array("foo".utf8))
        }
        for client in [metadata, source, target, client] { await client.close() }
    }

    @Test(
        "slots move between groups under a redis-py RedisCluster write load; no acknowledged write is lost",
        .enabled(if: RedisTools.redisPy, "python3 with redis-py not found: pip install redis"))
    func slotMovesUnderLoad() async throws {
        let (cluster, client) = try await Self.startRedisCluster()
        defer { cluster.stopAll() }
        let port = try #require(cluster.members[0].redisPort)
        let load = Task {
            try await RedisTools.run("/usr/bin/env", ["python3", "-c", Self.loadScript, "\(port)"], timeout: 300)
        }
        let started = try await Patience.within(seconds: 60) {
            while try await RedisTools.cli(port: port, ["-c", "GET", "load:started"]) != "1" {
                try await Task.sleep(for: .milliseconds(50))
            }
            return true
        }
        #expect(started == true, "the load did not start")

        // A native client that learns the map now routes by it after it is stale.
        let sharded = ShardedClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        #expect(try await sharded.shardMap().epoch == 0)

        // Slots from each founding group to another, some holding many of the load's keys.
        let mover = ShardMover(endpoints: cluster.clientEndpoints)
        var map = try await mover.move(.slots(0...3_000), to: GroupID(2))
        map = try await mover.move(.slots(12_000...14_000), to: GroupID(1))
        map = try await mover.move(.slots(6_000...6_500), to: GroupID(3))
        #expect(map.epoch == 6)
        #expect(map.assignment.group(of: HashSlot(100)!) == GroupID(2))
        #expect(map.assignment.group(of: HashSlot(13_000)!) == GroupID(1))
        #expect(map.assignment.group(of: HashSlot(6_200)!) == GroupID(3))

        _ = try await RedisTools.cli(port: port, ["-c", "SET", "load:stop", "1"])
        let run = try await load.value
        #expect(run.status == 0, "the load failed: \(run.output.suffix(3000))")
        #expect(run.output.contains("load ok"), "\(run.output.suffix(3000))")
        // Each moved key lives in its new group only: the old group refuses it, the new one has it.
        let key = try #require(
            (0..<500).map { Array("load:\($0)".utf8) }.first { (0...3_000).contains(HashSlot(key: $0).rawValue) })
        let oldGroup = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(1))
        let newGroup = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(2))
        await #expect(throws: QuorumClientError.self) { try await oldGroup.get(key) }
        #expect(try await newGroup.get(key) != nil)
        for client in [oldGroup, newGroup, client] { await client.close() }

        // The stale native client follows the refusals to every key's new group, writes and reads them.
        #expect(try await sharded.get(key) != nil)
        for number in 0..<500 {
            let loadKey = Array("load:\(number)".utf8)
            try await sharded.put(loadKey, Array("native \(number)".utf8))
            #expect(try await sharded.get(loadKey)?.value == Array("native \(number)".utf8))
        }
        #expect(try await sharded.shardMap().epoch == 6)
        #expect(try await RedisTools.cli(port: port, ["-c", "GET", "load:7"]) == "native 7")
        await sharded.close()
    }

    @Test(
        "a range-sharded keyspace: declared, split over three groups and merged with the CLI; stitched range reads keep key order and the limit"
    )
    func rangeShardedKeyspace() async throws {
        let (cluster, client) = try await Self.startRedisCluster()
        defer { cluster.stopAll() }
        let endpoints = cluster.clientEndpoints.joined(separator: ",")
        func shard(_ arguments: String...) async throws -> String {
            let run = try await cluster.runCommand(["shard"] + arguments + ["--endpoints", endpoints])
            #expect(run.status == 0, "quorum shard \(arguments): \(run.output)")
            return run.output
        }
        #expect(try await shard("declare", "/logs/", "--owner", "1").contains("range-sharded"))
        let sharded = ShardedClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        let keys = (0..<90).map { Array(String(format: "/logs/%03d", $0).utf8) }
        for key in keys { try await sharded.put(key, key) }
        _ = try await shard("split", "/logs/030", "--to", "2")
        _ = try await shard("split", "/logs/060", "--to", "3")
        let listing = try await shard("list")
        #expect(listing.contains("epoch 5"), "\(listing)")  // the declaration, and each split begun and finished
        #expect(listing.contains("keys [\"/logs/030\", \"/logs/060\")"), "\(listing)")
        // Each group has one leader, so the nodes together lead every shard: three slot ranges and three spans.
        let status = try await cluster.runCommand(["cluster", "status", "--json", "--endpoints", endpoints])
        let rows = try status.output.split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [[String: Any]]
        }.flatMap { $0 }
        #expect(rows.compactMap { $0["shardsLed"] as? Int }.reduce(0, +) == 6, "\(status.output)")
        let shards = try await HTTPClient().send("GET", cluster.members[2], "/v1/shards").json
        #expect(shards["epoch"] as? Int == 5)
        let spans = (shards["keyspaces"] as? [[String: Any]])?.first?["spans"] as? [[String: Any]]
        #expect(spans?.compactMap { $0["group"] as? Int } == [1, 2, 3], "\(shards)")

        // HTTP without ?group: a key goes to its span's group, and a range is stitched over the spans' groups.
        let http = HTTPClient()
        for index in [5, 45, 85] {
            let key = String(format: "/logs/%03d", index)
            let answer = try await http.send("GET", cluster.members[index % 3], "/v1/kv/" + key)
            #expect(answer.json["value"] as? String == key, "\(answer.text)")
        }
        let page = try await http.send("GET", cluster.members[0], "/v1/kv?prefix=/logs/&limit=50").json
        let pageKeys = (page["kvs"] as? [[String: Any]])?.compactMap { $0["key"] as? String }
        #expect(pageKeys == keys.prefix(50).map { String(decoding: $0, as: UTF8.self) })
        #expect(page["more"] as? Bool == true && page["count"] as? Int == 90, "\(page)")
        // A write goes to the leader of the key's group; a follower's 503 names it.
        var put = try await http.send("PUT", cluster.members[0], "/v1/kv//logs/095", body: #"{"value": "v"}"#)
        if put.status == 503, let leader = put.json["leader"] as? Int {
            put = try await http.send("PUT", cluster.members[leader - 1], "/v1/kv//logs/095", body: #"{"value": "v"}"#)
        }
        #expect(put.status == 200, "\(put.text)")
        #expect(try await sharded.get(Array("/logs/095".utf8))?.value == Array("v".utf8))
        _ = try await sharded.delete(Array("/logs/095".utf8))

        // Each group holds its span only; the stitched read returns every key once, in order, to the limit.
        let everything = RangeRequest.prefix(Array("/logs/".utf8))
        let all = try await sharded.range(everything)
        #expect(all.kvs.map(\.key) == keys)
        #expect(all.count == 90 && !all.more)
        var limited = everything
        limited.limit = 45
        let first = try await sharded.range(limited)
        #expect(first.kvs.map(\.key) == Array(keys.prefix(45)))
        #expect(first.more && first.count == 90)
        let middle = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(2))
        #expect(try await middle.range(everything).kvs.map(\.key) == Array(keys[30..<60]))
        await #expect(throws: QuorumClientError.store(.keyMoved(key: keys[70], to: GroupID(3)))) {
            try await middle.get(keys[70])
        }
        let last = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(3))
        await #expect(throws: QuorumClientError.store(.keyNotServed(key: keys[10]))) { try await last.get(keys[10]) }
        await last.close()

        // Merging the last span into the one before moves its keys to group 2; reads see no change.
        _ = try await shard("merge", "/logs/060")
        #expect(try await middle.range(everything).kvs.map(\.key) == Array(keys[30...]))
        #expect(try await sharded.range(everything).kvs.map(\.key) == keys)
        try await sharded.put(keys[89], Array("after".utf8))
        #expect(try await middle.get(keys[89])?.value == Array("after".utf8))
        await sharded.close()
        await middle.close()
        await client.close()
    }

    @Test(
        "with --split-keys, spans of a range-sharded keyspace split by themselves until none is over the limit, and merge back once their keys are deleted"
    )
    func automaticSplitsAndMerges() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--groups", "3", "--split-keys", "40"])
        defer { cluster.stopAll() }
        let mover = ShardMover(endpoints: cluster.clientEndpoints)
        _ = try await mover.declareKeyspace(prefix: Array("/auto/".utf8), owner: GroupID(1))
        let sharded = ShardedClient(endpoints: cluster.clientEndpoints, timeout: .seconds(30))
        let keys = (0..<200).map { Array(String(format: "/auto/%03d", $0).utf8) }
        for key in keys { try await sharded.put(key, key) }

        let metadata = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: ShardMap.group)
        let endpoints = cluster.clientEndpoints
        /// How many keys each span's group holds in it, by a map with no move under way.
        @Sendable func spanSizes(_ map: ShardMap) async throws -> [Int] {
            var sizes: [Int] = []
            for piece in map.keyspaces.first?.owners.pieces ?? [] {
                let owner = QuorumClient(endpoints: endpoints, timeout: .seconds(10), group: piece.value)
                let held = try await owner.range(
                    RangeRequest(key: piece.span.start, rangeEnd: piece.span.end ?? [0], countOnly: true))
                sizes.append(held.count)
                await owner.close()
            }
            return sizes
        }
        let settled = try await Patience.within(seconds: 120) { () async throws -> ShardMap in
            while true {
                // The same epoch before and after the count: no split began in between (each begins with one).
                let map = try await metadata.shardMap()
                if map.migrations.isEmpty, try await spanSizes(map).allSatisfy({ $0 <= 40 }),
                    try await metadata.shardMap().epoch == map.epoch
                {
                    return map
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let map = try #require(settled, "spans were still over 40 keys after two minutes")
        let sizes = try await spanSizes(map)
        #expect(sizes.reduce(0, +) == 200 && sizes.count >= 5, "\(sizes)")
        #expect(Set(map.keyspaces[0].owners.pieces.map(\.value)).count == 3, "splits spread over the groups")
        #expect(try await sharded.range(RangeRequest.prefix(Array("/auto/".utf8))).kvs.map(\.key) == keys)

        // Five keys left: every neighbouring pair holds at most a quarter of 40, so the spans merge into one.
        let kept = stride(from: 0, to: 200, by: 40).map { keys[$0] }
        for key in keys where !kept.contains(key) { _ = try await sharded.delete(key) }
        let merged = try await Patience.within(seconds: 120) { () async throws -> ShardMap in
            while true {
                let map = try await metadata.shardMap()
                if map.migrations.isEmpty, map.keyspaces.first?.owners.pieces.count == 1 { return map }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let one = try #require(merged, "spans had not merged into one after two minutes")
        #expect(try await spanSizes(one) == [kept.count])
        #expect(try await sharded.range(RangeRequest.prefix(Array("/auto/".utf8))).kvs.map(\.key) == kept)
        await sharded.close()
        await metadata.close()
        await client.close()
    }

    @Test("with --split-load, a span that takes more requests a second than the limit splits where its load divides")
    func loadSplits() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--groups", "2", "--split-load", "50"])
        defer { cluster.stopAll() }
        let mover = ShardMover(endpoints: cluster.clientEndpoints)
        _ = try await mover.declareKeyspace(prefix: Array("/hot/".utf8), owner: GroupID(1))
        let sharded = ShardedClient(endpoints: cluster.clientEndpoints, timeout: .seconds(30))
        let keys = (0..<20).map { Array(String(format: "/hot/%02d", $0).utf8) }
        for key in keys { try await sharded.put(key, key) }
        let metadata = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: ShardMap.group)

        // Reads spread evenly over the keys, far above 50 a second, until the span splits.
        let split = try await Patience.within(seconds: 120) { () async throws -> ShardMap in
            while true {
                for key in keys { _ = try await sharded.get(key) }
                let map = try await metadata.shardMap()
                if map.migrations.isEmpty, (map.keyspaces.first?.owners.pieces.count ?? 0) > 1 { return map }
            }
        }
        let map = try #require(split, "the span had not split by load after two minutes")
        let pieces = map.keyspaces[0].owners.pieces
        #expect(Set(pieces.map(\.value)) == [GroupID(1), GroupID(2)])
        // Where the requests divide: each half takes between a quarter and three quarters of the keys read.
        let at = pieces[1].span.start
        let below = keys.filter { $0.lexicographicallyPrecedes(at) }.count
        #expect((5...15).contains(below), "split at \(String(decoding: at, as: UTF8.self))")
        #expect(try await sharded.range(RangeRequest.prefix(Array("/hot/".utf8))).kvs.map(\.key) == keys)
        await sharded.close()
        await metadata.close()
        await client.close()
    }

    /// Writes `load:0` … `load:499` over and over until `load:stop` exists, retrying what the cluster asks to
    /// retry, then checks that every key holds the last value written and acknowledged to it.
    private static let loadScript = #"""
        import sys, time
        from redis.cluster import RedisCluster
        from redis.exceptions import TryAgainError, ClusterDownError

        rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
        def retrying(call):
            for attempt in range(400):
                try:
                    return call()
                except (TryAgainError, ClusterDownError):
                    time.sleep(0.025)
            raise RuntimeError("the cluster kept asking to retry")
        acknowledged = {}
        i = 0
        while True:
            key = f"load:{i % 500}"
            assert retrying(lambda: rc.set(key, str(i)))
            acknowledged[key] = str(i)
            i += 1
            if i == 300:
                retrying(lambda: rc.set("load:started", "1"))
            if i % 50 == 0 and retrying(lambda: rc.exists("load:stop")):
                break
        lost = [(k, v, rc.get(k)) for k, v in acknowledged.items() if retrying(lambda: rc.get(k)) != v]
        assert not lost, f"acknowledged writes lost: {lost[:10]}"
        print(f"load ok after {i} writes")
        """#
}
