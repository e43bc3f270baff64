import Foundation
import QuorumClient
import QuorumConsensus
import Testing

/// The Redis port of a cluster founded with several groups is a Redis Cluster node (docs/sharding.md): real
/// `quorum server` processes, driven by redis-cli in cluster mode and redis-py's `RedisCluster`. An extension of
/// `ClusterTests`, so that it runs serialized with the other clusters.
extension ClusterTests {
    /// Starts three nodes founding three groups, and waits until each group has a leader.
    static func startRedisCluster() async throws -> (ClusterProcesses, QuorumClient) {
        let (cluster, client) = try await startCluster(arguments: ["--groups", "3"])
        for group in 1...3 as ClosedRange<UInt64> {
            let groupClient = QuorumClient(
                endpoints: cluster.clientEndpoints, timeout: .seconds(30), group: GroupID(group))
            try await groupClient.put(Array("warm-up".utf8), Array("\(group)".utf8))
            await groupClient.close()
        }
        return (cluster, client)
    }

    @Test(
        "Redis Cluster: slots over three groups; redis-cli -c follows MOVED; CROSSSLOT, KEYSLOT, SLOTS, INFO, SCAN",
        .enabled(if: RedisTools.cli != nil, "redis-cli not found: install the Debian package redis-tools"))
    func redisClusterCommandLine() async throws {
        let (cluster, client) = try await Self.startRedisCluster()
        defer { cluster.stopAll() }
        let ports = try cluster.members.map { try #require($0.redisPort) }
        func cli(_ port: Int, _ arguments: String...) async throws -> String {
            try await RedisTools.cli(port: port, arguments)
        }

        #expect(try await cli(ports[0], "CLUSTER", "KEYSLOT", "foo") == "12182")
        #expect(try await cli(ports[0], "CLUSTER", "KEYSLOT", "foo{hash_tag}") == "2515")
        #expect(try await cli(ports[1], "CLUSTER", "INFO").contains("cluster_state:ok"))
        // Every slot is covered once, by three ranges, each naming a master.
        let slots = try await cli(ports[2], "CLUSTER", "SLOTS").split(separator: "\n")
        #expect(slots.contains("0") && slots.contains("5460") && slots.contains("5461") && slots.contains("16383"))

        // Keys of all three groups, written and read through every node with redirections followed.
        let keys = ["foo", "bar", "hello", "{user1000}.followers", "{user1000}.following"]
        for (number, key) in keys.enumerated() {
            #expect(try await cli(ports[number % 3], "-c", "SET", key, "v\(number)") == "OK")
        }
        for port in ports {
            for (number, key) in keys.enumerated() {
                #expect(try await cli(port, "-c", "GET", key) == "v\(number)", "GET \(key) via \(port)")
            }
        }
        // Without -c, exactly one node serves "foo" (the leader of the group owning slot 12182); the others redirect
        // to it, by the address it serves Redis on.
        var answers: [Int: String] = [:]
        for port in ports { answers[port] = try await cli(port, "GET", "foo") }
        let servers = ports.filter { answers[$0] == "v0" }
        #expect(servers.count == 1, "\(answers)")
        if let server = servers.first {
            for port in ports where port != server {
                #expect(answers[port] == "MOVED 12182 127.0.0.1:\(server)", "\(answers)")
            }
            #expect(
                try await cli(server, "MSET", "foo", "1", "bar", "2")
                    == "CROSSSLOT Keys in request don't hash to the same slot")
            // A shard channel is routed as a key: SPUBLISH to "foo" is taken only where "foo" is served.
            #expect(try await cli(server, "SPUBLISH", "foo", "m") == "0")
            for port in ports where port != server {
                #expect(try await cli(port, "SPUBLISH", "foo", "m") == "MOVED 12182 127.0.0.1:\(server)")
            }
            #expect(
                try await cli(server, "SSUBSCRIBE", "foo", "bar")
                    == "CROSSSLOT Keys in request don't hash to the same slot")
        }
        #expect(try await cli(ports[0], "-c", "MSET", "{t}a", "1", "{t}b", "2") == "OK")
        #expect(try await cli(ports[1], "-c", "MGET", "{t}a", "{t}b") == "1\n2")

        // Each node scans the groups it leads; together they hold every key once, and no cursor overflows
        // redis-cli's 64-bit parsing however long the keys are.
        let long = String(repeating: "k", count: 40)
        for number in 0..<30 { _ = try await cli(ports[0], "-c", "SET", "\(long)\(number)", "x") }
        var scanned: [String] = []
        var sizes = 0
        for port in ports {
            let output = try await RedisTools.run(
                try #require(RedisTools.cli), ["-h", "127.0.0.1", "-p", "\(port)", "--scan"]
            ).output
            scanned += output.split(separator: "\n").map(String.init)
            sizes += Int(try await cli(port, "DBSIZE")) ?? -1
        }
        let expected = keys + ["{t}a", "{t}b", "warm-up", "warm-up", "warm-up"] + (0..<30).map { "\(long)\($0)" }
        #expect(scanned.sorted() == expected.sorted())
        #expect(sizes == expected.count)

        // A node that joins later learns the founding group count from its first hello, and routes the same slots.
        let newcomer = try cluster.addMember()
        try await client.addMember(NodeID(4), address: "127.0.0.1:\(newcomer.peerPort):\(newcomer.clientPort)")
        try cluster.start(newcomer.id, joining: true)
        let newcomerPort = try #require(newcomer.redisPort)
        #expect(
            try await Self.poll { (try? await cli(newcomerPort, "-c", "GET", "bar")) == "v1" },
            "the joined node does not route GET bar")
        #expect(try await cli(newcomerPort, "INFO", "cluster").contains("cluster_enabled:1"))
        await client.close()
    }

    @Test(
        "Redis Cluster: redis-py's RedisCluster client works unchanged against the nodes",
        .enabled(if: RedisTools.redisPy, "python3 with redis-py not found: pip install redis"))
    func redisClusterPy() async throws {
        let (cluster, client) = try await Self.startRedisCluster()
        defer { cluster.stopAll() }
        let port = try #require(cluster.members[1].redisPort)
        let run = try await RedisTools.run("/usr/bin/env", ["python3", "-c", Self.redisClusterScript, "\(port)"])
        #expect(run.status == 0, "redis-py script failed: \(run.output.suffix(3000))")
        #expect(run.output.contains("redis-py cluster ok"))
        await client.close()
    }

    private static let redisClusterScript = #"""
        import sys
        from redis.cluster import RedisCluster
        from redis.exceptions import RedisClusterException, ResponseError

        rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
        assert len({node.name for node in rc.get_primaries()}) >= 1
        for i in range(100):
            assert rc.set(f"py:{i}", i)
        assert [rc.get(f"py:{i}") for i in range(100)] == [str(i) for i in range(100)]
        slots = {rc.keyslot(f"py:{i}") for i in range(100)}
        assert len({rc.nodes_manager.get_node_from_slot(slot).name for slot in slots}) >= 1
        assert rc.mset({"{tag}a": "1", "{tag}b": "2"})
        assert rc.mget("{tag}a", "{tag}b") == ["1", "2"]
        assert rc.incr("py:counter") == 1 and rc.incr("py:counter") == 2
        assert rc.cluster_keyslot("foo") == 12182
        pipe = rc.pipeline()
        for i in range(20):
            pipe.set(f"pipe:{i}", i)
        assert pipe.execute() == [True] * 20
        assert rc.delete("py:0", "py:1") == 2
        assert rc.get("py:0") is None
        print("redis-py cluster ok")
        """#
}
