import Foundation
import QuorumClient
import QuorumLua
import QuorumWire
import Testing

/// The same seeded random command sequence, over every data-type and key command the port supports, sent to a real
/// redis-server and to a Quorum node: every reply must be the same. On a difference the test names the seed and the
/// first command whose replies differ; `REDIS_DIFFERENTIAL_SEED` replays one seed, `REDIS_DIFFERENTIAL_COMMANDS`
/// runs longer sequences.
extension ClusterTests {
    @Test(
        "Redis port: a seeded random command sequence gets the same replies from Quorum as from redis-server",
        .enabled(if: RedisServers.isInstalled, "redis-server is not on PATH; install the Debian package redis-server"))
    func redisDifferential() async throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["REDIS_DIFFERENTIAL_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        let count = environment["REDIS_DIFFERENTIAL_COMMANDS"].flatMap(Int.init) ?? 3_000
        let (servers, cluster) = try await Self.startBesideRedis()
        defer {
            servers.stopAll()
            cluster.stopAll()
        }
        let redis = try await RedisConnection.connect(to: servers.endpoints[0])
        let quorum = try await RedisConnection.connect(
            to: "127.0.0.1:\(try #require(cluster.members[0].redisPort))", commandTimeout: .seconds(30))

        // Half the seeds speak RESP3, where scores are doubles, hashes maps and sets sets.
        let protocolVersion = seed % 2 == 0 ? 3 : 2
        if protocolVersion == 3 {
            for connection in [redis, quorum] {
                guard case .map = try await connection.send(["HELLO", "3"]) else {
                    Issue.record("HELLO 3 was refused")
                    return
                }
            }
        }
        var generator = RedisCommandGenerator(seed: seed)
        let commands = (0..<count).map { _ in generator.next() }
        // Pipelined in batches, as clients do; each command still sees the ones before it on both servers.
        for start in stride(from: 0, to: commands.count, by: 100) {
            let batch = Array(commands[start..<min(start + 100, commands.count)])
            let expected = try await redis.pipeline(batch)
            let answered = try await quorum.pipeline(batch)
            for (index, command) in batch.enumerated() {
                let want = RedisCommandGenerator.normalized(command, expected[index])
                let got = RedisCommandGenerator.normalized(command, answered[index])
                guard want == got else {
                    Issue.record(
                        """
                        seed \(seed) (RESP\(protocolVersion)): command \(start + index + 1) \
                        `\(command.joined(separator: " "))` \
                        got \(got) from Quorum, \(want) from redis-server
                        """)
                    await redis.close()
                    await quorum.close()
                    return
                }
            }
        }
        await redis.close()
        await quorum.close()

        // MULTI queues what Redis queues, EXEC after a watched key changed is the null array, and a command that
        // changes nothing leaves a WATCH alone: byte for byte as Redis.
        let script = [
            "WATCH d:w", "SET d:w 1", "MULTI", "SET d:w 2", "PING", "KEYS d:w*", "EXEC", "GET d:w", "MULTI",
            "SET d:w 3", "KEYS d:w*", "ECHO hi", "HSET d:w f v", "DBSIZE", "EXEC", "MULTI", "FLUSHDB", "DBSIZE",
            "SET d:z 1", "EXEC", "DBSIZE", "SADD d:s m", "WATCH d:s", "SADD d:s m", "SREM d:s x", "MULTI", "PING",
            "EXEC", "WATCH d:s", "SADD d:s n", "MULTI", "PING", "EXEC", "FLUSHALL SYNC", "DBSIZE", "AUTH secret",
            "AUTH default anything", "AUTH bob secret", "AUTH", "HELLO 2 AUTH bob secret", "SET o:i 12345",
            "OBJECT ENCODING o:i", "SET o:z 0123", "OBJECT ENCODING o:z",
            "SET o:r \(String(repeating: "r", count: 45))",
            "OBJECT ENCODING o:r", "HSET o:h f v", "OBJECT ENCODING o:h",
            "HSET o:H f \(String(repeating: "v", count: 65))",
            "OBJECT ENCODING o:H", "RPUSH o:l a", "OBJECT ENCODING o:l", "SADD o:s 1 2", "OBJECT ENCODING o:s",
            "SADD o:S a 1", "OBJECT ENCODING o:S", "ZADD o:y 1 m", "OBJECT ENCODING o:y",
            "ZADD o:Y 1 \(String(repeating: "m", count: 65))", "OBJECT ENCODING o:Y", "OBJECT ENCODING nokey",
            "OBJECT REFCOUNT nokey", "OBJECT FREQ o:i", "OBJECT ENCODING", "OBJECT FOO",
        ].map { $0 + "\r\n" }.joined()
        let fromRedis = try await RedisTools.raw(port: servers.ports[0], script)
        // BLPOP waits for a push from another connection, and times out with the null array.
        for endpoint in [servers.endpoints[0], "127.0.0.1:\(try #require(cluster.members[0].redisPort))"] {
            let waiting = try await RedisConnection.connect(to: endpoint, commandTimeout: .seconds(30))
            let pushing = try await RedisConnection.connect(to: endpoint)
            async let popped = waiting.send(["BLPOP", "d:empty", "d:queue", "0"])
            let blocked = try await Self.poll {
                let clients = try await pushing.send(["CLIENT", "LIST"]).string ?? ""
                return clients.contains("cmd=blpop")
            }
            #expect(blocked, "BLPOP never waited on \(endpoint)")
            let clients = try await pushing.send(["CLIENT", "LIST"]).string ?? ""
            #expect(clients.contains("flags=b "), "\(endpoint) lists no blocked client: \(clients)")
            let info = try await pushing.send(["INFO", "clients"]).string ?? ""
            #expect(info.contains("blocked_clients:1\r\n"), "\(endpoint): \(info)")
            #expect(try await pushing.send(["RPUSH", "d:queue", "job"]) == .integer(1))
            #expect(try await popped == .array([.bulkString("d:queue"), .bulkString("job")]), "\(endpoint)")
            #expect(try await waiting.send(["BRPOP", "d:queue", "0.05"]) == .null, "\(endpoint)")
            await waiting.close()
            await pushing.close()
        }
        let fromQuorum = try await RedisTools.raw(port: try #require(cluster.members[0].redisPort), script)
        #expect(fromQuorum == fromRedis)
        #expect(fromQuorum.contains("*-1\r\n"))
    }
}

extension ClusterTests {
    @Test(
        "Redis port: EVAL, EVALSHA and EVAL_RO queued in MULTI answer as redis-server answers them",
        .enabled(if: RedisServers.isInstalled, "redis-server is not on PATH; install the Debian package redis-server"),
        .enabled(if: luaInstalled, "Lua 5.1 not found: apt-get install liblua5.1-0"))
    func scriptsInsideMultiMatchRedis() async throws {
        let (servers, cluster) = try await Self.startBesideRedis()
        defer {
            servers.stopAll()
            cluster.stopAll()
        }
        let increment = "return redis.call('incr', KEYS[1])"
        let sha = SHA1.hex(Array(increment.utf8))
        // Each script sees the writes queued before it, and the commands after it see its writes; a script's own
        // error, a bad numkeys and an unknown SHA-1 answer in their place without aborting the rest. (The failing
        // calls are not tail calls: after one, Quorum's error cannot name the script's line; docs/redis.md.)
        let script = [
            "SCRIPT LOAD \"\(increment)\"", "MULTI", "SET m:a 1", "EVAL \"\(increment)\" 1 m:a",
            "EVAL \"redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])\" 1 m:b x",
            "EVALSHA \(sha) 1 m:a", "EVAL_RO \"return redis.call('get', KEYS[1])\" 1 m:b",
            "EVAL_RO \"local r = redis.call('set', KEYS[1], 'y') return r\" 1 m:b", "EVAL \"return 1\" -1",
            "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0", "EVAL \"local r = redis.call('nope') return r\" 0",
            "GET m:a", "GET m:b", "EXEC", "MULTI", "EVAL \"return 1\" 0", "DISCARD", "GET m:a",
        ].map { $0 + "\r\n" }.joined()
        let fromRedis = try await RedisTools.raw(port: servers.ports[0], script)
        let fromQuorum = try await RedisTools.raw(port: try #require(cluster.members[0].redisPort), script)
        #expect(fromQuorum == fromRedis)
        #expect(fromQuorum.contains(":3\r\n"), "the queued scripts did not count m:a up to 3")
    }
}

extension ClusterTests {
    @Test(
        "Redis port: scripts after redis.setresp(3), and scripts returning RESP3 types, answer as redis-server answers, in RESP2 and RESP3",
        .enabled(if: RedisServers.isInstalled, "redis-server is not on PATH; install the Debian package redis-server"),
        .enabled(if: luaInstalled, "Lua 5.1 not found: apt-get install liblua5.1-0"))
    func scriptsSpeakRESP3LikeRedis() async throws {
        let (servers, cluster) = try await Self.startBesideRedis()
        defer {
            servers.stopAll()
            cluster.stopAll()
        }
        let setup = [["HSET", "r3:h", "f", "v"], ["SADD", "r3:s", "m"], ["ZADD", "r3:z", "1.5", "a"]]
        let resp3 = "redis.setresp(3) "
        let scripts: [(String, [String])] = [
            (resp3 + "return redis.call('hgetall', KEYS[1])", ["r3:h"]),
            (resp3 + "return redis.call('hgetall', KEYS[1]).map.f", ["r3:h"]),
            (resp3 + "return redis.call('smembers', KEYS[1])", ["r3:s"]),
            (resp3 + "return redis.call('smembers', KEYS[1]).set.m", ["r3:s"]),
            (resp3 + "return redis.call('zscore', KEYS[1], 'a')", ["r3:z"]),
            (resp3 + "return redis.call('zscore', KEYS[1], 'a').double * 2", ["r3:z"]),
            (resp3 + "return redis.call('zrange', KEYS[1], 0, -1, 'WITHSCORES')", ["r3:z"]),
            (resp3 + "return redis.call('get', KEYS[1]) == nil", ["r3:none"]),
            (resp3 + "return redis.call('hexists', KEYS[1], 'f')", ["r3:h"]),
            (resp3 + "return false", []),
            ("return {double = 3.5}", []), ("return {map = {a = '1'}}", []), ("return {set = {x = true}}", []),
            ("return {big_number = '123'}", []), ("return {verbatim_string = {format = 'txt', string = 'hi'}}", []),
            ("return true", []), ("return redis.call('hgetall', KEYS[1])", ["r3:h"]),
            ("redis.setresp(4)", []), ("redis.setresp()", []),
        ]
        for protocolVersion in [2, 3] {
            let redis = try await RedisConnection.connect(to: servers.endpoints[0])
            let quorum = try await RedisConnection.connect(
                to: "127.0.0.1:\(try #require(cluster.members[0].redisPort))", commandTimeout: .seconds(30))
            if protocolVersion == 3 {
                for connection in [redis, quorum] { _ = try await connection.send(["HELLO", "3"]) }
            }
            for command in setup {
                for connection in [redis, quorum] { _ = try await connection.send(command) }
            }
            for (source, keys) in scripts {
                let command = ["EVAL", source, "\(keys.count)"] + keys
                let expected = try await redis.send(command)
                let answered = try await quorum.send(command)
                #expect(answered == expected, "RESP\(protocolVersion) `\(source)`")
            }
            await redis.close()
            await quorum.close()
        }
    }
}

/// Random commands over a few keys shared by every type, so that wrong-type errors, empty collections, options and
/// bad arguments come up often.
struct RedisCommandGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// SplitMix64: small, and the same sequence for a seed on every platform.
    private mutating func random(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((mixed ^ (mixed >> 31)) % UInt64(bound))
    }

    private mutating func pick(_ choices: [String]) -> String { choices[random(choices.count)] }
    private mutating func some(_ choices: [String], atMost: Int) -> [String] {
        (0..<(1 + random(atMost))).map { _ in pick(choices) }
    }

    private mutating func key() -> String { pick(["d:a", "d:b", "d:c", "d:d", "d:e", "d:f"]) }
    private mutating func field() -> String { pick(["f1", "f2", "f3", "f4", "n"]) }
    private mutating func value() -> String { pick(["", "v", "x1", "10", "-3", "hello world", "9223372036854775807"]) }
    private mutating func score() -> String {
        pick(["0", "1", "-1", "2.5", "0.1", "1e3", "-0", "1.1", "3", "inf", "-inf", "1e17", "abc", "nan"])
    }
    private mutating func bound() -> String { pick(["-inf", "+inf", "0", "(1", "2.5", "(3", "1e3", "x"]) }
    private mutating func lexBound() -> String { pick(["-", "+", "[m1", "(m2", "[m3", "m1"]) }
    private mutating func member() -> String { pick(["m1", "m2", "m3", "m4", "1", "2"]) }
    private mutating func integer() -> String { pick(["0", "1", "-1", "2", "-2", "5", "x", "100"]) }
    private mutating func end() -> String { pick(["LEFT", "RIGHT", "left", "UP"]) }

    // Absolute deadlines (EXPIREAT), so that GT and LT compare the same instants on both servers.
    private static let epoch = Int(Date().timeIntervalSince1970) + 3_600

    mutating func next() -> [String] {
        let key = key()
        switch random(52) {
        case 0: return ["SET", key, value()]
        case 1: return ["GET", key]
        case 2: return ["INCR", key]
        case 3: return ["APPEND", key, value()]
        case 4: return ["STRLEN", key]
        case 5: return ["MGET", key, self.key()]
        case 6: return random(3) == 0 ? ["DEL", key, self.key()] : ["EXISTS", key, self.key()]
        case 7: return ["TYPE", key]
        case 8: return ["HSET", key] + (0..<(1 + random(3))).flatMap { _ in [field(), value()] }
        case 9: return ["HGET", key, field()]
        case 10: return ["HMGET", key] + some(["f1", "f2", "n", "zz"], atMost: 3)
        case 11: return ["HGETALL", key]
        case 12: return ["HDEL", key] + some(["f1", "f2", "f3", "n"], atMost: 2)
        case 13: return ["HEXISTS", key, field()]
        case 14: return ["HINCRBY", key, field(), pick(["1", "-2", "x", "9223372036854775807", "1.5"])]
        case 15: return [pick(["HLEN", "HKEYS", "HVALS"]), key]
        case 16: return ["HSETNX", key, field(), value()]
        case 17: return ["HSCAN", key, "0"] + (random(2) == 0 ? ["MATCH", "f*"] : [])
        case 18: return random(4) == 0 ? ["HSET", key, field()] : ["HMSET", key, field(), value()]
        case 19, 20:
            let options = ["NX", "XX", "GT", "LT", "CH", "INCR"].filter { _ in random(5) == 0 }
            return ["ZADD", key] + options + (0..<(1 + random(2))).flatMap { _ in [score(), member()] }
        case 21: return ["ZRANGE", key, integer(), integer()] + (random(2) == 0 ? ["WITHSCORES"] : [])
        case 22:
            let reverse = random(2) == 0
            let limit = random(3) == 0 ? ["LIMIT", integer(), integer()] : []
            return ["ZRANGE", key, bound(), bound(), "BYSCORE"] + (reverse ? ["REV"] : []) + limit
                + (random(2) == 0 ? ["WITHSCORES"] : [])
        case 23: return ["ZRANGE", key, lexBound(), lexBound(), "BYLEX"] + (random(3) == 0 ? ["REV"] : [])
        case 24: return ["ZRANGEBYSCORE", key, bound(), bound()] + (random(2) == 0 ? ["WITHSCORES"] : [])
        case 25: return ["ZREVRANGE", key, integer(), integer()] + (random(2) == 0 ? ["WITHSCORES"] : [])
        case 26: return ["ZREM", key] + some(["m1", "m2", "m3", "1"], atMost: 2)
        case 27: return ["ZSCORE", key, member()]
        case 28: return ["ZCARD", key]
        case 29: return ["ZCOUNT", key, bound(), bound()]
        case 30: return ["ZREMRANGEBYSCORE", key, bound(), bound()]
        case 31: return ["ZINCRBY", key, score(), member()]
        case 32: return ["SADD", key] + some(["m1", "m2", "m3", "1", "2"], atMost: 3)
        case 33: return ["SREM", key] + some(["m1", "m2", "1"], atMost: 2)
        case 34: return ["SMEMBERS", key]
        case 35: return ["SISMEMBER", key, member()]
        case 36: return ["SCARD", key]
        case 37, 38: return [pick(["LPUSH", "RPUSH"]), key] + some(["a", "b", "c", "a"], atMost: 3)
        case 39:
            return [pick(["LPOP", "RPOP"]), key] + (random(2) == 0 ? [pick(["0", "1", "2", "5", "-1", "x"])] : [])
        case 40: return ["LRANGE", key, integer(), integer()]
        case 41: return ["LLEN", key]
        case 42: return ["LREM", key, integer(), pick(["a", "b", "c"])]
        case 43: return ["LMOVE", key, self.key(), end(), end()]
        case 44:
            let condition = random(2) == 0 ? [pick(["NX", "XX", "GT", "LT", "nx", "BAD"])] : []
            return ["EXPIREAT", key, String(Self.epoch + 100 * random(4))] + condition
        case 45: return ["PERSIST", key]
        case 46: return ["TTL", key]
        case 47: return ["ZADD", key, "XX", "NX", "1", "m1"]
        case 48: return ["SADD", key]
        case 49: return ["LPUSH", key]
        case 50: return ["ZRANGE", key, "0", "-1", "BYLEX", "WITHSCORES"]
        default: return ["ZRANGE", key, "0", "1", "LIMIT", "0", "1"]
        }
    }

    /// Replies Redis leaves unordered (set members) sorted, and TTLs reduced to their sign: the servers' clocks
    /// are not the same clock.
    static func normalized(_ command: [String], _ reply: RESPValue) -> RESPValue {
        switch (command[0], reply) {
        case ("SMEMBERS", .array(let members)), ("SMEMBERS", .set(let members)):
            return .array(members.sorted { "\($0)" < "\($1)" })
        case ("TTL", .integer(let seconds)) where seconds > 0:
            return .integer(1)
        case (_, .double(let value)):
            return .bulkString(RESPValue.format(value))
        default:
            return reply
        }
    }
}
