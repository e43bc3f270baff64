import Foundation
import QuorumChaos
import QuorumClient
import QuorumConsensus
import QuorumStore
import QuorumWire
import Testing

@testable import QuorumServer

#if canImport(Glibc)
    import Glibc
#endif

/// The Redis port (docs/redis.md) of real `quorum server` processes, driven by the real Redis tools: redis-cli,
/// redis-benchmark and redis-py. An extension of `ClusterTests` so that it runs serialized with the other
/// clusters. Each test is skipped, saying which package to install, when its tool is missing (`.ci/run`
/// installs them all).
extension ClusterTests {
    @Test(
        "Redis port: redis-cli gets Redis's answers; followers refuse writes naming the leader; expired keys are gone",
        // Debian package redis-tools.
        .enabled(if: RedisTools.cli != nil, "redis-cli not found: install the Debian package redis-tools"))
    func redisCommandLine() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--max-request-bytes", "4096"])
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        let leader = cluster.members[leaderID - 1]
        let follower = try #require(cluster.members.first { $0.id != leaderID })
        let leaderPort = try #require(leader.redisPort)
        let followerPort = try #require(follower.redisPort)
        let cli = { (arguments: [String]) async throws -> String in
            try await RedisTools.cli(port: leaderPort, arguments)
        }

        let expectations: [([String], String)] = [
            (["PING"], "PONG"), (["ECHO", "hi"], "hi"),
            (["SET", "r:a", "1"], "OK"), (["GET", "r:a"], "1"), (["INCR", "r:a"], "2"),
            (["INCRBY", "r:a", "10"], "12"),
            (["DECR", "r:a"], "11"), (["DECRBY", "r:a", "5"], "6"),
            (["SET", "r:s", "hello"], "OK"), (["INCR", "r:s"], "ERR value is not an integer or out of range"),
            (["APPEND", "r:s", " world"], "11"), (["GET", "r:s"], "hello world"),
            (["SETNX", "r:s", "x"], "0"), (["SETNX", "r:n", "x"], "1"),
            (["SET", "r:n", "y", "NX"], ""), (["SET", "r:n", "y", "XX", "GET"], "x"), (["GET", "r:n"], "y"),
            (["MSET", "r:m1", "1", "r:m2", "2"], "OK"), (["MGET", "r:m1", "r:none", "r:m2"], "1\n\n2"),
            (["EXISTS", "r:m1", "r:m2", "r:none", "r:m1"], "3"),
            (["DEL", "r:m1", "r:none"], "1"), (["UNLINK", "r:m2"], "1"), (["GET", "r:m2"], ""),
            (["KEYS", "r:[an]"], "r:a\nr:n"), (["DBSIZE"], "3"),
            (["SCAN", "0", "MATCH", "r:*", "COUNT", "100"], "0\nr:a\nr:n\nr:s"),
            (["EXPIRE", "r:a", "100"], "1"), (["TTL", "r:a"], "100"), (["PERSIST", "r:a"], "1"),
            (["TTL", "r:a"], "-1"),
            (["TTL", "r:none"], "-2"), (["EXPIRE", "r:none", "100"], "0"),
            (["DELIFEQ", "r:n", "wrong"], "0"), (["GET", "r:n"], "y"), (["DELIFEQ", "r:n", "y"], "1"),
            (["GET", "r:n"], ""),
            (["SELECT", "1"], "ERR DB index is out of range"), (["SELECT", "0"], "OK"),
            (["CLIENT", "SETNAME", "tester"], "OK"), (["CONFIG", "GET", "appendonly"], "appendonly\nyes"),
            (["GET"], "ERR wrong number of arguments for 'get' command"),
            (["FOO", "bar"], "ERR unknown command 'FOO', with args beginning with: 'bar' "),
            (["SET", "r:x", "1", "EX", "0"], "ERR invalid expire time in 'set' command"),
            (["SET", "r:x", "1", "NX", "XX"], "ERR syntax error"),
        ]
        // redis-cli's HELP and hints come from COMMAND DOCS, or from its own table when the server does not have it.
        let redisCLI = try #require(RedisTools.cli)
        let help = try await RedisTools.run(
            "/bin/sh", ["-c", "printf 'HELP SET\\n' | '\(redisCLI)' -h 127.0.0.1 -p \(leaderPort)"])
        #expect(help.output.contains("Set the string value of a key"), "redis-cli's HELP SET: \(help.output)")
        for (arguments, expected) in expectations {
            let answer = try await cli(arguments)
            #expect(answer == expected, "redis-cli \(arguments.joined(separator: " "))")
        }
        if luaInstalled {
            #expect(
                try await cli(["EVAL", "return {1, 'a', redis.call('get', KEYS[1])}", "1", "r:s"])
                    == "1\na\nhello world")
        } else {
            #expect(
                try await cli(["EVAL", "return 1", "0"]).hasPrefix("ERR Lua scripting needs the liblua5.1-0 package"))
        }
        #expect(try await cli(["INFO"]).contains("redis_version:7.0.0"))
        #expect(try await cli(["INFO"]).contains("role:master"))
        // The keyspace is the KV API's.
        #expect(try await client.get(Array("r:s".utf8))?.value == Array("hello world".utf8))

        // A follower serves linearizable reads and refuses writes, naming the leader.
        #expect(try await RedisTools.cli(port: followerPort, ["GET", "r:s"]) == "hello world")
        #expect(try await RedisTools.cli(port: followerPort, ["INFO"]).contains("role:slave"))
        let refused = try await RedisTools.cli(port: followerPort, ["SET", "r:f", "1"])
        #expect(refused.hasPrefix("READONLY You can't write against a read only replica."))
        #expect(refused.contains("node \(leaderID) at 127.0.0.1:\(try #require(leader.redisPort))."), "\(refused)")
        #expect(try await RedisTools.cli(port: followerPort, ["INCR", "r:a"]).hasPrefix("READONLY"))
        // A blocking pop on a follower is refused at once, and leaves its connection unblocked.
        let onFollower = try await RedisConnection.connect(to: "127.0.0.1:\(followerPort)")
        let popped = try await onFollower.send(["BLPOP", "r:queue", "0"])
        guard case .error(let refusal) = popped else {
            Issue.record("BLPOP on a follower answered \(popped)")
            return
        }
        #expect(refusal.hasPrefix("READONLY"), "\(refusal)")
        let followerClients = try await onFollower.send(["INFO", "clients"]).string ?? ""
        #expect(followerClients.contains("blocked_clients:0\r\n"), "\(followerClients)")
        await onFollower.close()

        // A key set with PX is there, then gone: polled, never slept on.
        #expect(try await cli(["SET", "r:t", "v", "PX", "400"]) == "OK")
        let remaining = try #require(Int(try await cli(["PTTL", "r:t"])))
        #expect((1...400).contains(remaining))
        #expect(try await Self.poll { try await cli(["GET", "r:t"]) == "" }, "the key never expired")
        #expect(try await cli(["PTTL", "r:t"]) == "-2")
        #expect(try await cli(["EXISTS", "r:t"]) == "0")
        #expect(try await Self.poll { try await client.get(Array("r:t".utf8)) == nil }, "the leader never revoked it")

        // Overwriting a key with a TTL without one revokes its lease: leases do not pile up.
        let leasesBefore = try await client.leases().count
        #expect(try await cli(["SET", "r:l", "1", "EX", "100"]) == "OK")
        #expect(try await client.leases().count == leasesBefore + 1)
        #expect(try await cli(["SET", "r:l", "2"]) == "OK")
        #expect(try await Self.poll { try await client.leases().count == leasesBefore }, "the old lease stayed")
        #expect(try await cli(["TTL", "r:l"]) == "-1")

        // FLUSHDB and FLUSHALL empty the keyspace in one log entry each; the store takes writes after them.
        #expect(try await cli(["FLUSHDB", "NOW"]) == "ERR syntax error")
        #expect(try await cli(["FLUSHDB"]) == "OK")
        #expect(try await cli(["DBSIZE"]) == "0")
        #expect(try await client.get(Array("r:s".utf8)) == nil)
        #expect(try await cli(["SET", "r:f", "1"]) == "OK")
        #expect(try await cli(["FLUSHALL", "ASYNC"]) == "OK")
        #expect(try await cli(["KEYS", "*"]) == "")
        #expect(try await cli(["SET", "r:f", "2"]) == "OK")
        #expect(try await cli(["GET", "r:f"]) == "2")
        await client.close()
    }

    @Test(
        "Redis port: pipelines answer in order, MULTI/EXEC is atomic, bad input is refused and the connection closed",
        .enabled(if: RedisTools.cli != nil, "redis-cli not found: install the Debian package redis-tools"))
    func redisProtocol() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--max-request-bytes", "4096"])
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        let port = try #require(cluster.members[leaderID - 1].redisPort)

        // Sent in one go: each command sees the ones before it, and the answers come back in order.
        let pipelined = String(repeating: "SET p 1\r\nGET p\r\nINCR p\r\nDEL p\r\nGET p\r\n", count: 20)
        let answers = try await RedisTools.raw(port: port, pipelined)
        #expect(answers == String(repeating: "+OK\r\n$1\r\n1\r\n:2\r\n:1\r\n$-1\r\n", count: 20))
        // Far more than the 128 commands a connection may have in flight: reading pauses and resumes.
        let many = try await RedisTools.raw(port: port, String(repeating: "INCR many\r\n", count: 2_000))
        #expect(many == (1...2_000).map { ":\($0)\r\n" }.joined())
        #expect(
            try await RedisTools.raw(port: port, "PING\r\n*1\r\n$4\r\nECHO\r\n")
                == "+PONG\r\n-ERR wrong number of arguments for 'echo' command\r\n")
        let transaction = "MULTI\r\nINCR t\r\nINCR t\r\nGET t\r\nEXEC\r\nGET t\r\n"
        #expect(
            try await RedisTools.raw(port: port, transaction)
                == "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n:1\r\n:2\r\n$1\r\n2\r\n$1\r\n2\r\n")
        #expect(
            try await RedisTools.raw(port: port, "MULTI\r\nINCR t\r\nNOPE\r\nEXEC\r\nGET t\r\n")
                == "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOPE', with args beginning with: \r\n"
                + "-EXECABORT Transaction discarded because of previous errors.\r\n$1\r\n2\r\n")
        // RESP3 after HELLO 3: nulls are '_' and the HELLO answer itself is a map.
        let resp3 = try await RedisTools.raw(port: port, "HELLO 3\r\nGET nothing\r\n")
        #expect(resp3.hasPrefix("%7\r\n"))
        #expect(resp3.hasSuffix("_\r\n"))

        // Malformed input: the commands before it are answered, then the error, then the connection closes.
        #expect(
            try await RedisTools.raw(port: port, "PING\r\n*x\r\nPING\r\n")
                == "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n")
        // A bulk string over the node's request limit (4096 here) is refused from its header.
        #expect(
            try await RedisTools.raw(port: port, "*2\r\n$3\r\nGET\r\n$5000\r\n")
                == "-ERR Protocol error: invalid bulk length\r\n")
        #expect(
            try await RedisTools.raw(port: port, "SET \"unbalanced\r\n")
                == "-ERR Protocol error: unbalanced quotes in request\r\n")
        // The port is still serving.
        #expect(try await RedisTools.cli(port: port, ["PING"]) == "PONG")
        await client.close()
    }

    @Test(
        "Redis port: redis-benchmark set/get/incr/mset and the data types complete (also pipelined), every write counted once",
        .enabled(if: RedisTools.benchmark != nil, "redis-benchmark not found: install the Debian package redis-tools"))
    func redisBenchmark() async throws {
        // redis-benchmark stops at the first error, and a leader change answers one: with the simulated worlds and
        // other clusters sharing two cores, 200-400 ms election timeouts were missed under its load. Elections
        // here take 1-2 s.
        let (cluster, client) = try await Self.startCluster(tickMilliseconds: 100)
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        let port = try #require(cluster.members[leaderID - 1].redisPort)
        let benchmark = try #require(RedisTools.benchmark)
        for pipeline in ["1", "16"] {
            let run = try await RedisTools.run(
                benchmark,
                ["-h", "127.0.0.1", "-p", "\(port)", "-t", "set,get,incr,mset", "-n", "2000", "-q", "-P", pipeline])
            #expect(run.status == 0, "redis-benchmark -P \(pipeline) failed: \(run.output.suffix(2000))")
            for test in ["SET", "GET", "INCR", "MSET (10 keys)"] {
                let rate = RedisTools.rate(of: test, in: run.output)
                #expect((rate ?? 0) > 0, "no rate for \(test) with -P \(pipeline): \(run.output.suffix(2000))")
            }
        }
        // The data types, 50 clients on one hot key each: every push is popped exactly once.
        let types = try await RedisTools.run(
            benchmark,
            ["-h", "127.0.0.1", "-p", "\(port)", "-t", "lpush,lpop,hset,sadd,zadd", "-n", "500", "-q", "-P", "16"])
        #expect(types.status == 0, "redis-benchmark of the data types failed: \(types.output.suffix(2000))")
        for test in ["LPUSH", "LPOP", "HSET", "SADD", "ZADD"] {
            #expect((RedisTools.rate(of: test, in: types.output) ?? 0) > 0, "no rate for \(test): \(types.output)")
        }
        for (command, expected) in [
            ("EXISTS mylist", "0"), ("HLEN myhash", "1"), ("SCARD myset", "1"), ("ZCARD myzset", "1"),
        ] {
            let answer = try await RedisTools.cli(port: port, command.split(separator: " ").map(String.init))
            #expect(answer == expected, "\(command)")
        }
        // Every INCR of both runs counted exactly once, and the writes are in the KV store.
        #expect(try await client.get(Array("counter:__rand_int__".utf8))?.value == Array("4000".utf8))
        #expect(try await client.get(Array("key:__rand_int__".utf8))?.value.count == 3)
        await client.close()
    }

    @Test(
        "Redis port: redis-py runs commands, WATCH/MULTI, RESP3, and a SET NX PX + DELIFEQ lock keeps a count exact",
        .enabled(if: RedisTools.redisPy, "python3 with redis-py not found: pip install redis"),
        arguments: ConsensusKind.allCases)
    func redisPy(consensus: ConsensusKind) async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--consensus", consensus.rawValue])
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        let port = try #require(cluster.members[leaderID - 1].redisPort)
        let run = try await RedisTools.run(
            "/usr/bin/env", ["python3", "-c", RedisTools.redisPyScript, "\(port)", "\(luaInstalled)"])
        #expect(run.status == 0, "redis-py script failed: \(run.output.suffix(3000))")
        #expect(run.output.contains("redis-py ok"))
        // Four threads, 25 increments each, read-then-write inside the lock: only mutual exclusion makes 100.
        #expect(try await client.get(Array("py:counter".utf8))?.value == Array("100".utf8))
        await client.close()
    }

    /// Polls `condition` every 50 ms for up to 10 s.
    static func poll(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

/// The Redis tools the tests drive, found on PATH.
enum RedisTools {
    static let cli = find("redis-cli")
    static let benchmark = find("redis-benchmark")
    static let redisPy = pythonImports("redis")
    /// python-redis-lock and pottery (PyPI), the lock libraries `pythonLockLibraries` drives.
    static let pythonLockLibraries = pythonImports("redis_lock") && pythonImports("pottery")

    static func pythonImports(_ module: String) -> Bool {
        guard find("python3") != nil, let run = try? runBlocking("/usr/bin/env", ["python3", "-c", "import \(module)"])
        else {
            return false
        }
        return run.status == 0
    }

    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// redis-cli's output (it prints errors on standard output too, followed by an empty line), without the
    /// newlines at the end.
    static func cli(port: Int, _ arguments: [String]) async throws -> String {
        guard let cli else { throw ToolMissing(name: "redis-cli") }
        var output = try await run(cli, ["-h", "127.0.0.1", "-p", "\(port)"] + arguments).output
        while output.hasSuffix("\n") { output.removeLast() }
        return output
    }

    /// Runs a tool to its end, ending it if it overruns `timeout`; standard output and error together. It waits
    /// on a thread of its own: blocking a concurrency-pool thread (one per core) for a redis-benchmark run stalled
    /// every async test beside it for minutes.
    static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 120) async throws -> (
        status: Int32, output: String
    ) {
        try await offConcurrencyPool { try runBlocking(executable, arguments, timeout: timeout) }
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], timeout: TimeInterval = 120) throws
        -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let overrun = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: overrun)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        overrun.cancel()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// redis-benchmark -q prints "SET: 9302.33 requests per second, ..." (after progress lines ending in \r).
    static func rate(of test: String, in output: String) -> Double? {
        let lines = output.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
        let prefix = "\(test): "
        for line in lines {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix(prefix), text.contains("requests per second") else { continue }
            return Double(text.dropFirst(prefix.count).prefix { $0 != " " })
        }
        return nil
    }

    /// Sends `text` on a fresh connection, closes the sending side, and returns everything the server sent
    /// until it closed: for byte-exact checks of pipelines and protocol errors.
    static func raw(port: Int, _ text: String) async throws -> String {
        try await offConcurrencyPool { try rawBlocking(port: port, text) }
    }

    private static func rawBlocking(port: Int, _ text: String) throws -> String {
        let connection = try BlockingSocket(port: port)
        defer { connection.close() }
        try connection.send(text)
        connection.shutdownWrite()
        return try connection.readUntilClosed()
    }

    struct ToolMissing: Error { var name: String }

    /// Basic commands, WATCH/MULTI, RESP3, EVAL (or, without Lua on the node, its refusal naming the package), and the
    /// lock recipe that needs no Lua: SET NX PX to take it, DELIFEQ to release it only if still ours.
    static let redisPyScript = #"""
        import sys, threading, time, uuid
        import redis

        port = int(sys.argv[1])
        r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        assert r.ping()
        assert r.set("py:a", "1")
        assert r.get("py:a") == "1"
        assert r.incr("py:a") == 2
        assert r.set("py:b", "x", nx=True) and r.set("py:b", "y", nx=True) is None
        assert r.mget("py:a", "py:b", "py:none") == ["2", "x", None]
        assert r.set("py:e", "v", px=60000) and 0 < r.pttl("py:e") <= 60000
        assert r.delete("py:a", "py:b", "py:none") == 2
        assert sorted(r.scan_iter(match="py:*", count=1)) == ["py:e"]
        pipe = r.pipeline(transaction=True)
        pipe.incr("py:t").incr("py:t").get("py:t")
        assert pipe.execute() == [1, 2, "2"]
        with r.pipeline() as watched:
            watched.watch("py:w")
            watched.multi()
            watched.set("py:w", "mine")
            r.set("py:w", "theirs")
            try:
                watched.execute()
                raise AssertionError("EXEC ran although a watched key changed")
            except redis.WatchError:
                pass
        assert r.get("py:w") == "theirs"
        if sys.argv[2] == "true":
            assert r.eval("return redis.call('incr', KEYS[1])", 1, "py:e2") == 1
        else:
            try:
                r.eval("return 1", 0)
                raise AssertionError("EVAL was accepted without Lua on the node")
            except redis.ResponseError as error:
                assert "liblua5.1-0" in str(error), error
        r3 = redis.Redis(host="127.0.0.1", port=port, protocol=3, decode_responses=True)
        assert r3.ping() and r3.get("py:none") is None and r3.incr("py:r3") == 1

        # The data types and what test fixtures call, through redis-py's own reply parsing (RESP2 and RESP3).
        for c in (r, r3):
            c.delete("py:h", "py:z", "py:l", "py:s")
            assert c.hset("py:h", mapping={"a": "1", "b": "2"}) == 2
            assert c.hgetall("py:h") == {"a": "1", "b": "2"} and c.hincrby("py:h", "a", 5) == 6
            assert c.zadd("py:z", {"x": 1.5, "y": 0.25}) == 2
            assert c.zrange("py:z", 0, -1, withscores=True) in ([("y", 0.25), ("x", 1.5)], [["y", 0.25], ["x", 1.5]])
            assert c.zscore("py:z", "x") == 1.5 and c.zincrby("py:z", 1, "y") == 1.25
            assert c.rpush("py:l", "a", "b", "c") == 3 and c.lpop("py:l") == "a" and c.lrange("py:l", 0, -1) == ["b", "c"]
            assert c.sadd("py:s", "m", "n") == 2 and c.smembers("py:s") == {"m", "n"}
            assert c.type("py:h") == "hash" and c.type("py:z") == "zset"
        info = r.info()
        assert info["arch_bits"] == 64 and info["cluster_enabled"] == 0 and info["connected_clients"] >= 2
        assert info["db0"]["keys"] >= 4
        assert any(client["id"] == str(r.client_id()) for client in r.client_list())
        assert r.client_info()["id"] == r.client_id()
        with r.pipeline(transaction=True) as pipe:
            assert pipe.ping().keys("py:h").dbsize().execute()[1] == ["py:h"]

        r.set("py:counter", 0)
        def worker():
            c = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
            for _ in range(25):
                token = uuid.uuid4().hex
                while not c.set("py:lock", token, nx=True, px=10000):
                    time.sleep(0.002)
                value = int(c.get("py:counter"))
                c.set("py:counter", value + 1)
                assert c.execute_command("DELIFEQ", "py:lock", token) == 1
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert r.get("py:counter") == "100", r.get("py:counter")
        print("redis-py ok")
        """#
}

/// The port's command semantics against an in-memory store whose clock the test moves and whose leader never
/// revokes anything: what the port itself must get right, without processes.
@Suite("Redis port commands")
struct RedisCommandTests {
    /// A store on the test's clock, answering at once, like a leader whose revokes lag forever.
    final class MemoryBackend: RedisBackend, @unchecked Sendable {
        // @unchecked Sendable: used from one test task only, and every callback runs synchronously.
        var store = KeyValueStore()
        var now = StoreTime(milliseconds: 1_000_000)
        /// Runs before the next write applies, once: another client's write slipping in after the port read.
        var interloper: ((inout KeyValueStore) -> Void)?

        func read(_ range: RangeRequest, linearizable: Bool, _ done: @escaping @Sendable (LeasedReadOutcome) -> Void) {
            guard let response = try? store.range(range) else { return done(.refused(.failed("bad range"))) }
            var deadlines: [LeaseID: StoreTime] = [:]
            for lease in Set(response.kvs.compactMap(\.lease)) {
                deadlines[lease] = try? store.timeToLive(of: lease, now: now).deadline
            }
            done(.read(LeasedRange(range: response, deadlines: deadlines, now: now)))
        }

        /// Waiting observers (BLPOP), told once after a write to one of their keys, as the node's watch hub tells them.
        var observers: [Int: (keys: Set<[UInt8]>, changed: @Sendable () -> Void)] = [:]
        /// Timers scheduled and not cancelled; the test fires them by moving `now` with `advance`.
        var timers: [Int: (at: UInt64, body: @Sendable () -> Void)] = [:]
        private var lastID = 0

        /// While set, writes wait here until `releaseWrites`, as writes wait for the log on a real node.
        var heldWrites: [@Sendable () -> Void]?
        /// Transactions applied.
        var transactions = 0

        func releaseWrites() {
            let held = heldWrites ?? []
            heldWrites = []
            for write in held { write() }
        }

        func write(_ command: StoreCommand, _ done: @escaping @Sendable (ClientResponse.Outcome) -> Void) {
            if heldWrites != nil {
                heldWrites?.append { self.apply(command, done) }
                return
            }
            apply(command, done)
        }

        private func apply(_ command: StoreCommand, _ done: @escaping @Sendable (ClientResponse.Outcome) -> Void) {
            if case .transaction = command { transactions += 1 }
            if let interloper {
                self.interloper = nil
                interloper(&store)
            }
            var stamped = command
            if case .leaseGrant(let id, let ttl, _) = command {
                stamped = .leaseGrant(id: id, ttl: ttl, grantedAt: now)
            }
            let applied = store.apply(stamped)
            done(.result(applied.result))
            let touched = Set(applied.events.map(\.kv.key))
            // Newest first: a node's watch hub tells them in no particular order, and this one is the least fair.
            for (id, observer) in observers.sorted(by: { $0.key > $1.key })
            where !observer.keys.isDisjoint(with: touched) {
                observers[id] = nil
                observer.changed()
            }
        }

        func observe(_ keys: [[UInt8]], changed: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
            lastID += 1
            let id = lastID
            observers[id] = (Set(keys), changed)
            return { self.observers[id] = nil }
        }

        func schedule(in milliseconds: Int64, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
            lastID += 1
            let id = lastID
            timers[id] = (now.milliseconds + UInt64(milliseconds), body)
            return { self.timers[id] = nil }
        }

        /// Moves the clock on and fires the timers due.
        func advance(milliseconds: UInt64) {
            now = StoreTime(milliseconds: now.milliseconds + milliseconds)
            for (id, timer) in timers where timer.at <= now.milliseconds {
                timers[id] = nil
                timer.body()
            }
        }

        func leaseKeyCount(_ id: LeaseID) -> Int? { (try? store.timeToLive(of: id, now: now))?.keys.count }

        var status: NodeStatus {
            NodeStatus(
                node: NodeID(1), role: "leader", term: Term(1), leader: NodeID(1), commitIndex: LogIndex(1),
                appliedIndex: LogIndex(1), lastIndex: LogIndex(1), voters: [NodeID(1)], learners: [])
        }

        func redisAddress(of node: NodeID) -> String? { nil }
        func redisLeaderAddress(of group: GroupID) -> String? { nil }
    }

    /// Runs one command through the executor as a connection would, and returns its reply.
    static func run(_ executor: RedisExecutor, _ parts: String...) -> RESPValue { run(executor, parts) }

    static func run(_ executor: RedisExecutor, _ parts: [String]) -> RESPValue {
        let command = RedisCommand(name: parts[0], arguments: parts.dropFirst().map { Array($0.utf8) })
        let box = Box<RESPValue>()
        let reply: RedisExecutor.Reply = { box.value = $0 }
        switch RedisCommandTable.lookup(command.name)?.kind {
        case .read: executor.read(command, reply: reply)
        case .readWrite where RedisExecutor.isBlindWrite(command): executor.blindWrite(command, reply: reply)
        case .readWrite:
            executor.transaction([command]) { result in
                reply((try? result.get())?.first ?? .error("transaction failed: \(result)"))
            }
        case .keyspace:
            executor.liveKeys(from: [], limit: 0) { result in
                reply(.array(((try? result.get())?.keys ?? []).map { .bulkString($0) }))
            }
        default: reply(.error("not a data command"))
        }
        return box.value ?? .error("no reply")
    }

    final class Box<Value>: @unchecked Sendable {
        // @unchecked Sendable: written by a synchronous callback of the test's own call.
        var value: Value?
    }

    @Test("a key whose lease deadline passed is absent to every command, though nothing revoked it yet")
    func expiredKeysAreAbsent() {
        let backend = MemoryBackend()
        let executor = RedisExecutor(backend: backend)
        #expect(Self.run(executor, "SET", "k", "v", "PX", "100") == .ok)
        #expect(Self.run(executor, "PTTL", "k") == .integer(100))
        backend.now = StoreTime(milliseconds: backend.now.milliseconds + 99)
        #expect(Self.run(executor, "GET", "k") == .bulkString("v"))
        backend.now = StoreTime(milliseconds: backend.now.milliseconds + 1)
        // Still in the store: only the port's deadline check hides it.
        #expect(backend.store.get(Array("k".utf8)) != nil)
        #expect(Self.run(executor, "GET", "k") == .null)
        #expect(Self.run(executor, "EXISTS", "k") == .integer(0))
        #expect(Self.run(executor, "TTL", "k") == .integer(-2))
        #expect(Self.run(executor, "KEYS", "*") == .array([]))
        #expect(Self.run(executor, "INCR", "k") == .integer(1), "INCR starts from an absent key, not from v")
        #expect(Self.run(executor, "TTL", "k") == .integer(-1))
        // The expired lease held no key after the INCR, and was revoked rather than left behind.
        #expect(backend.store.leaseIDs().isEmpty)
    }

    @Test("SET's options, and leases given up when a TTL is dropped or replaced")
    func setOptions() {
        let backend = MemoryBackend()
        let executor = RedisExecutor(backend: backend)
        #expect(Self.run(executor, "SET", "k", "1", "EX", "100") == .ok)
        #expect(backend.store.leaseIDs().count == 1)
        #expect(Self.run(executor, "SET", "k", "2", "KEEPTTL", "GET") == .bulkString("1"))
        #expect(Self.run(executor, "TTL", "k") == .integer(100))
        #expect(Self.run(executor, "SET", "k", "3", "NX") == .null)
        #expect(Self.run(executor, "SET", "other", "3", "XX") == .null)
        #expect(Self.run(executor, "EXPIRE", "k", "50") == .integer(1))
        #expect(backend.store.leaseIDs().count == 1, "EXPIRE's new lease replaced the old one")
        #expect(Self.run(executor, "PERSIST", "k") == .integer(1))
        #expect(backend.store.leaseIDs().isEmpty)
        #expect(Self.run(executor, "SET", "k", "4", "PX", "100") == .ok)
        #expect(Self.run(executor, "SET", "k", "5") == .ok)
        #expect(backend.store.leaseIDs().isEmpty, "a plain SET drops the TTL and its lease")
        #expect(Self.run(executor, "SET", "k", "6", "PXAT", "\(backend.now.milliseconds + 500)") == .ok)
        #expect(Self.run(executor, "PTTL", "k") == .integer(500))
        #expect(Self.run(executor, "SET", "k", "7", "EXAT", "1") == .ok, "a deadline in the past")
        #expect(Self.run(executor, "GET", "k") == .null)
        #expect(Self.run(executor, "SET", "k", "1", "EX", "1", "PX", "1") == .syntaxError)
        #expect(Self.run(executor, "SET", "k", "1", "EX", "soon") == .notInteger)
        #expect(Self.run(executor, "SET", "k", "1", "BOGUS") == .syntaxError)
    }

    @Test("INCR and friends: integers only, overflow refused, DELIFEQ deletes only on a match")
    func arithmetic() {
        let executor = RedisExecutor(backend: MemoryBackend())
        #expect(Self.run(executor, "INCRBY", "n", "-5") == .integer(-5))
        #expect(Self.run(executor, "DECRBY", "n", "5") == .integer(-10))
        #expect(Self.run(executor, "SET", "n", "9223372036854775807") == .ok)
        #expect(Self.run(executor, "INCR", "n") == .error("ERR increment or decrement would overflow"))
        for bad in ["abc", " 1", "+1", "01", "1.5", ""] {
            #expect(Self.run(executor, "SET", "s", bad) == .ok)
            #expect(Self.run(executor, "INCR", "s") == .notInteger, "INCR of '\(bad)'")
        }
        #expect(Self.run(executor, "DELIFEQ", "s", "other") == .integer(0))
        #expect(Self.run(executor, "DELIFEQ", "s", "") == .integer(1))
        #expect(Self.run(executor, "DELIFEQ", "s", "") == .integer(0))
        #expect(Self.run(executor, "APPEND", "s", "ab") == .integer(2))
        #expect(Self.run(executor, "STRLEN", "s") == .integer(2))
    }

    @Test("a write that slips in between the read and the transaction makes INCR retry, not lose it")
    func conflictRetries() {
        let backend = MemoryBackend()
        let executor = RedisExecutor(backend: backend)
        #expect(Self.run(executor, "SET", "n", "10") == .ok)
        backend.interloper = { store in
            _ = store.apply(.put(PutRequest(key: Array("n".utf8), value: Array("100".utf8))))
        }
        #expect(Self.run(executor, "INCR", "n") == .integer(101))
        #expect(backend.store.get(Array("n".utf8))?.value == Array("101".utf8))
    }

    @Test("a key whose lease is revoked between the read and the write is read again: INCR starts from nothing")
    func revokedUnderfoot() {
        let backend = MemoryBackend()
        let executor = RedisExecutor(backend: backend)
        #expect(Self.run(executor, "SET", "n", "5", "EX", "100") == .ok)
        let lease = backend.store.leaseIDs().first
        backend.interloper = { store in if let lease { _ = store.apply(.leaseRevoke(lease)) } }
        #expect(Self.run(executor, "INCR", "n") == .integer(1))
        #expect(Self.run(executor, "TTL", "n") == .integer(-1))
    }

    @Test("EXEC runs queued commands in one transaction, and answers null when a watched key changed")
    func execAndWatch() {
        let backend = MemoryBackend()
        let executor = RedisExecutor(backend: backend)
        let commands = [
            RedisCommand(name: "INCR", arguments: [Array("a".utf8)]),
            RedisCommand(
                name: "SET", arguments: [Array("b".utf8), Array("x".utf8), Array("EX".utf8), Array("10".utf8)]),
            RedisCommand(name: "GET", arguments: [Array("a".utf8)]),
        ]
        let box = Box<RESPValue>()
        executor.transaction(commands) { box.value = (try? $0.get())?.map { .array($0) } ?? .null }
        #expect(box.value == .array([.integer(1), .ok, .bulkString("1")]))

        let watched = Box<[[UInt8]: Revision]>()
        executor.watch([Array("a".utf8)]) { watched.value = try? $0.get() }
        #expect(Self.run(executor, "SET", "a", "changed") == .ok)
        executor.transaction(commands, watched: watched.value ?? [:]) {
            box.value = (try? $0.get())?.map { .array($0) } ?? .null
        }
        #expect(box.value == .null)
        #expect(
            backend.store.get(Array("a".utf8))?.value == Array("changed".utf8), "nothing of the aborted EXEC applied")
    }

    @Test("glob patterns")
    func globAndCursor() {
        let cases: [(String, String, Bool)] = [
            ("*", "", true), ("h?llo", "hello", true), ("h*llo", "heeeello", true), ("h[ae]llo", "hallo", true),
            ("h[^e]llo", "hello", false), ("h[a-b]llo", "hbllo", true), ("h\\*", "h*", true), ("h\\*", "hx", false),
            ("*a*a*a*b", String(repeating: "a", count: 200), false), ("user:*:name", "user:42:name", true),
        ]
        for (pattern, key, expected) in cases {
            #expect(RedisGlob(Array(pattern.utf8)).matches(Array(key.utf8)) == expected, "\(pattern) ~ \(key)")
        }
    }

    @Test("each command's keys come from its key spec, which COMMAND reports as Redis does")
    func keySpecs() {
        func keys(_ parts: String...) -> [String] {
            let command = RedisCommand(name: parts[0], arguments: parts.dropFirst().map { Array($0.utf8) })
            return RedisCommandTable.keys(of: command).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(keys("GET", "a") == ["a"])
        #expect(keys("SET", "a", "1", "PX", "10") == ["a"])
        #expect(keys("MGET", "a", "b", "c") == ["a", "b", "c"])
        #expect(keys("MSET", "a", "1", "b", "2") == ["a", "b"])
        #expect(keys("WATCH", "a", "b") == ["a", "b"])
        #expect(keys("PING").isEmpty && keys("DBSIZE").isEmpty && keys("NOSUCH", "a").isEmpty)
        guard case .array(let entries) = RedisCommandTable.commandInfo(names: ["MSET", "NOSUCH"]) else {
            Issue.record("COMMAND INFO answers an array")
            return
        }
        #expect(
            entries == [
                .array([
                    .bulkString("mset"), .integer(-3), .array([.simpleString("write")]), .integer(1), .integer(-1),
                    .integer(2),
                ]), .null,
            ])
    }

    @Test("scan cursors fit in 64 bits, resume where they were handed out, and the oldest are forgotten first")
    func scanCursors() {
        let cursors = RedisScanCursors(countMax: 3, keyBytesMax: 7)
        let positions = (1...3).map { RedisScanCursors.Position(group: GroupID(UInt64($0)), key: Array("k\($0)".utf8)) }
        let issued = positions.map { cursors.cursor(resuming: $0) }
        for (cursor, position) in zip(issued, positions) {
            #expect(cursors.position(of: Array(String(cursor).utf8)) == .some(position))
        }
        #expect(cursors.position(of: Array("0".utf8)) == .some(nil), "0 starts a scan")
        #expect(cursors.position(of: Array("abc".utf8)) == nil)
        #expect(cursors.position(of: Array("18446744073709551616".utf8)) == nil, "beyond 64 bits")
        // A fourth is one too many, and its key bytes push the total past 7: the two oldest go.
        let fourth = cursors.cursor(resuming: .init(group: 4, key: Array("key4".utf8)))
        #expect(cursors.position(of: Array(String(issued[0]).utf8)) == nil)
        #expect(cursors.position(of: Array(String(issued[1]).utf8)) == nil)
        #expect(cursors.position(of: Array(String(issued[2]).utf8)) == .some(positions[2]))
        #expect(cursors.position(of: Array(String(fourth).utf8)) == .some(.init(group: 4, key: Array("key4".utf8))))
    }

    @Test("connection commands: HELLO switches protocol, MULTI rules, Redis functions refused")
    func session() {
        var session = RedisSession(id: 7)
        let status = MemoryBackend().status
        func answer(_ parts: String...) -> RESPValue? {
            session.answer(
                RedisCommand(name: parts[0], arguments: parts.dropFirst().map { Array($0.utf8) }), status: status)
        }
        #expect(answer("HELLO", "4") == .error("NOPROTO unsupported protocol version"))
        guard case .map(let fields) = answer("HELLO", "3", "SETNAME", "me") else {
            Issue.record("HELLO did not answer a map")
            return
        }
        #expect(fields.contains(.init(.bulkString("proto"), .integer(3))))
        #expect(session.protocolVersion == 3)
        #expect(answer("CLIENT", "GETNAME") == .bulkString("me"))
        #expect(answer("CONFIG", "GET", "save") == .map([.init(.bulkString("save"), .bulkString(""))]))
        #expect(answer("MULTI") == .ok)
        #expect(answer("MULTI") == .error("ERR MULTI calls can not be nested"))
        #expect(session.enqueue(RedisCommand(name: "INCR", arguments: [Array("a".utf8)])) == .simpleString("QUEUED"))
        #expect(session.enqueue(RedisCommand(name: "KEYS", arguments: [Array("*".utf8)])) == .simpleString("QUEUED"))
        #expect(session.enqueue(RedisCommand(name: "NOSUCH", arguments: [])) != .simpleString("QUEUED"))
        guard case .failure(let aborted) = session.takeTransaction() else {
            Issue.record("EXEC ran a transaction with a refused command")
            return
        }
        #expect(aborted.reply == .error("EXECABORT Transaction discarded because of previous errors."))
        guard case .error(let message)? = answer("FCALL", "f", "0") else {
            Issue.record("FCALL was not refused")
            return
        }
        #expect(message.contains("EVAL"))
    }
}
