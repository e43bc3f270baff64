import QuorumConsensus
import QuorumStore
import QuorumWire
import Testing

@testable import QuorumServer

/// Hashes, sets, sorted sets and lists (`RedisTypedValue`), wrong types, stored values that do not decode, and
/// what MULTI/EXEC and INFO answer, against the in-memory store of `RedisCommandTests`.
@Suite("Redis port data types")
struct RedisTypesTests {
    typealias Backend = RedisCommandTests.MemoryBackend

    static func run(_ executor: RedisExecutor, _ parts: String...) -> RESPValue {
        RedisCommandTests.run(executor, parts)
    }

    static let wrongType = RESPValue.error("WRONGTYPE Operation against a key holding the wrong kind of value")

    @Test("TYPE names each type; string commands on a typed key and typed commands on a string answer WRONGTYPE")
    func wrongType() {
        let executor = RedisExecutor(backend: Backend())
        #expect(Self.run(executor, "SET", "s", "v") == .ok)
        #expect(Self.run(executor, "HSET", "h", "f", "1") == .integer(1))
        #expect(Self.run(executor, "ZADD", "z", "1", "m") == .integer(1))
        #expect(Self.run(executor, "SADD", "t", "m") == .integer(1))
        #expect(Self.run(executor, "RPUSH", "l", "a") == .integer(1))
        let types = ["s": "string", "h": "hash", "z": "zset", "t": "set", "l": "list", "none": "none"]
        for (key, type) in types { #expect(Self.run(executor, "TYPE", key) == .simpleString(type), "TYPE \(key)") }
        for command in [
            ["GET", "h"], ["STRLEN", "z"], ["INCR", "t"], ["INCRBY", "l", "2"], ["APPEND", "h", "x"],
            ["GETSET", "h", "v"], ["SET", "h", "v", "GET"], ["DELIFEQ", "h", "v"], ["HGET", "s", "f"],
            ["HSET", "z", "f", "v"], ["ZADD", "h", "1", "m"], ["ZRANGE", "t", "0", "-1"], ["SADD", "l", "m"],
            ["SMEMBERS", "s"], ["LPUSH", "h", "a"], ["LRANGE", "z", "0", "-1"], ["LMOVE", "l", "s", "LEFT", "LEFT"],
            ["HINCRBY", "l", "f", "1"], ["ZINCRBY", "s", "1", "m"],
        ] {
            #expect(RedisCommandTests.run(executor, command) == Self.wrongType, "\(command)")
        }
        #expect(Self.run(executor, "MGET", "h", "s") == .array([.null, .bulkString("v")]), "MGET reads nil")
        #expect(Self.run(executor, "LRANGE", "l", "0", "-1") == .array([.bulkString("a")]), "LMOVE moved nothing")
        #expect(Self.run(executor, "SET", "h", "plain") == .ok, "SET overwrites any type")
        #expect(Self.run(executor, "TYPE", "h") == .simpleString("string"))
        #expect(Self.run(executor, "EXISTS", "z", "t", "l") == .integer(3))
        #expect(Self.run(executor, "DEL", "z", "t", "l") == .integer(3))
    }

    @Test("a stored value with the typed marker that does not decode is an error, never a trap or a guess")
    func corruptValues() {
        let backend = Backend()
        let executor = RedisExecutor(backend: backend)
        let marker = RedisTypedValue.marker
        let corrupt: [[UInt8]] = [
            marker, marker + [0x68], marker + [0x68, 0xFF, 0xFF, 0xFF, 0xFF], marker + [0x68, 0, 0, 0, 1, 0, 0, 0, 9],
            marker + [0x71, 0, 0, 0, 0], marker + [0x68, 0, 0, 0, 1, 0, 0, 0, 1, 0x41], marker + [0x6C, 0, 0, 0, 0],
            RedisHash().typedValue.encoded + [1],
            RedisTypedValue(kind: .set, elements: [[1], [1]]).encoded,
            RedisTypedValue(kind: .sortedSet, elements: [[1], [0, 0]]).encoded,
            RedisTypedValue(kind: .sortedSet, elements: [[1], Array(repeating: 0xFF, count: 8)]).encoded,
            RedisTypedValue(kind: .sortedSet, elements: [[2], Self.scoreBytes(2), [1], Self.scoreBytes(1)]).encoded,
        ]
        for value in corrupt {
            _ = backend.store.apply(.put(PutRequest(key: Array("bad".utf8), value: value)))
            for command in [
                ["HGET", "bad", "f"], ["SMEMBERS", "bad"], ["ZRANGE", "bad", "0", "-1"], ["HSET", "bad", "f", "v"],
                ["LMOVE", "bad", "other", "LEFT", "RIGHT"], ["BLPOP", "bad", "0"], ["RPOP", "bad"], ["TYPE", "bad"],
            ] {
                let reply = RedisCommandTests.run(executor, command)
                guard case .error(let message) = reply else {
                    Issue.record("\(command) on \(value) answered \(reply)")
                    continue
                }
                #expect(
                    message.hasPrefix("ERR the value stored at this key is not a valid")
                        || message.hasPrefix("WRONGTYPE"))
            }
            #expect(Self.run(executor, "GET", "bad") == Self.wrongType)
            #expect(backend.store.get(Array("bad".utf8))?.value == value, "nothing overwrote it")
            #expect(Self.run(executor, "DEL", "bad") == .integer(1), "a corrupt key can still be deleted")
        }
    }

    static func scoreBytes(_ score: Double) -> [UInt8] {
        (0..<8).reversed().map { UInt8(truncatingIfNeeded: score.bitPattern >> (UInt64($0) * 8)) }
    }

    @Test("strings that start with the typed marker are refused, and collections stop at the value limit")
    func reservedPrefixAndSizeLimit() {
        let backend = Backend()
        let executor = RedisExecutor(backend: backend)
        let reserved = RedisTypedValue.marker + Array("h".utf8)
        let key = Array("k".utf8)
        func run(_ name: String, _ arguments: [[UInt8]]) -> RESPValue {
            let box = RedisCommandTests.Box<RESPValue>()
            executor.transaction([RedisCommand(name: name, arguments: arguments)]) {
                box.value = (try? $0.get())?.first
            }
            return box.value ?? .null
        }
        for (name, arguments) in [
            ("SET", [key, reserved]), ("MSET", [[1], [1], key, reserved]), ("SETNX", [key, reserved]),
        ] {
            #expect(!RedisExecutor.isBlindWrite(RedisCommand(name: name, arguments: arguments)))
            guard case .error(let message) = run(name, arguments) else {
                Issue.record("\(name) stored a string starting with the marker")
                continue
            }
            #expect(message.contains("reserves"))
        }
        #expect(backend.store.get(key) == nil && backend.store.get([1]) == nil)
        // A string cannot grow into one either.
        #expect(run("APPEND", [key, [0]]) == .integer(1))
        #expect(run("APPEND", [key, [0xC1, 0x51]]) != .integer(3))
        #expect(backend.store.get(key)?.value == [0])

        executor.valueBytesMax = 64
        #expect(Self.run(executor, "RPUSH", "l", "a", "b") == .integer(2))
        guard case .error(let message) = Self.run(executor, "RPUSH", "l", String(repeating: "x", count: 64)) else {
            Issue.record("a list over the limit was stored")
            return
        }
        #expect(message.contains("over the store's limit of 64 bytes"))
        #expect(Self.run(executor, "LLEN", "l") == .integer(2), "nothing was written")
    }

    @Test("bad arguments get Redis's errors and change nothing")
    func badInput() {
        let executor = RedisExecutor(backend: Backend())
        #expect(
            Self.run(executor, "HSET", "h", "f", "1", "g") == .error("ERR wrong number of arguments for 'hset' command")
        )
        #expect(!RedisCommandTable.arityHolds(RedisCommand(name: "HSET", arguments: [Array("h".utf8), [1]])))
        #expect(Self.run(executor, "HSET", "h", "f", "x") == .integer(1))
        #expect(Self.run(executor, "HINCRBY", "h", "f", "1") == .error("ERR hash value is not an integer"))
        #expect(Self.run(executor, "HINCRBY", "h", "g", "1.5") == .notInteger)
        #expect(Self.run(executor, "HINCRBY", "h", "g", "9223372036854775807") == .integer(.max))
        #expect(Self.run(executor, "HINCRBY", "h", "g", "1") == .error("ERR increment or decrement would overflow"))
        #expect(Self.run(executor, "ZADD", "z", "abc", "m") == .error("ERR value is not a valid float"))
        #expect(Self.run(executor, "ZADD", "z", "nan", "m") == .error("ERR value is not a valid float"))
        #expect(Self.run(executor, "ZADD", "z", "1e400", "m") == .error("ERR value is not a valid float"))
        #expect(Self.run(executor, "ZADD", "z", "1", "m", "2") == .syntaxError)
        #expect(Self.run(executor, "ZADD", "z", "INCR", "inf", "m") == .double(.infinity))
        #expect(Self.run(executor, "ZINCRBY", "z", "-inf", "m") == .error("ERR resulting score is not a number (NaN)"))
        #expect(Self.run(executor, "ZSCORE", "z", "m") == .double(.infinity))
        #expect(Self.run(executor, "ZCOUNT", "z", "(x", "1") == .error("ERR min or max is not a float"))
        #expect(Self.run(executor, "LPOP", "l", "-1") == .error("ERR value is out of range, must be positive"))
        #expect(Self.run(executor, "LPOP", "l", "2") == .nullArray)
        #expect(
            Self.run(executor, "EXPIRE", "h", "10", "NX", "XX")
                == .error("ERR NX and XX, GT or LT options at the same time are not compatible"))
        #expect(Self.run(executor, "EXPIRE", "h", "10", "SOON") == .error("ERR Unsupported option SOON"))
        #expect(Self.run(executor, "EXPIRE", "h", "10", "XX") == .integer(0), "XX: the key has no TTL")
        #expect(Self.run(executor, "EXPIRE", "h", "10", "GT") == .integer(0), "GT: no TTL counts as forever")
        #expect(Self.run(executor, "EXPIRE", "h", "10", "LT") == .integer(1))
        #expect(Self.run(executor, "EXPIRE", "h", "20", "LT") == .integer(0))
        #expect(Self.run(executor, "EXPIRE", "h", "20", "GT") == .integer(1))
        #expect(Self.run(executor, "TTL", "h") == .integer(20))
        #expect(Self.run(executor, "HSET", "h", "k", "v") == .integer(1))
        #expect(Self.run(executor, "TTL", "h") == .integer(20), "writing a field keeps the key's TTL")
    }

    @Test("EXEC runs KEYS, DBSIZE, SCAN and FLUSHDB queued in MULTI against the block's own writes")
    func keyspaceInsideExec() {
        let backend = Backend()
        let executor = RedisExecutor(backend: backend)
        #expect(Self.run(executor, "SET", "old", "1") == .ok)
        var session = RedisSession(id: 1)
        #expect(session.answer(Self.command("MULTI"), status: backend.status) == .ok)
        let queued = [
            ["SET", "a", "1"], ["KEYS", "*"], ["DBSIZE"], ["PING"], ["FLUSHDB"], ["DBSIZE"], ["HSET", "b", "f", "v"],
            ["SCAN", "0"], ["GET", "old"],
        ].map { Self.command($0[0], Array($0.dropFirst())) }
        for command in queued { #expect(session.enqueue(command) == .simpleString("QUEUED"), "\(command.name)") }
        #expect(session.enqueue(Self.command("NOSUCH")) != .simpleString("QUEUED"))
        guard case .failure = session.takeTransaction() else {
            Issue.record("EXEC ran after an unknown command was queued")
            return
        }
        let stored = queued.filter { $0.name != "PING" }
        let box = RedisCommandTests.Box<[RESPValue]?>()
        executor.transaction(stored) { box.value = try? $0.get() }
        #expect(
            box.value
                == [
                    .ok, .array([.bulkString("a"), .bulkString("old")]), .integer(2), .ok, .integer(0), .integer(1),
                    .array([.bulkString("0"), .array([.bulkString("b")])]), .null,
                ])
        #expect(backend.store.get(Array("old".utf8)) == nil && backend.store.get(Array("a".utf8)) == nil)
        #expect(Self.run(executor, "HGET", "b", "f") == .bulkString("v"))
        #expect(RESPValue.nullArray.encoded() == Array("*-1\r\n".utf8))
        #expect(RESPValue.nullArray.encoded(protocolVersion: 3) == Array("_\r\n".utf8))
    }

    @Test("INFO has the fields clients read, and each section alone on request")
    func info() {
        let status = Backend().status
        let session = RedisSession(
            id: 1,
            clientCounts: {
                RedisClients.Counts(connected: 3, blocked: 1, connectionsReceived: 7, commandsProcessed: 42)
            })
        let counts = RedisSession.KeyspaceCounts(keys: 5, expires: 2)
        guard case .bulkString(let bytes) = session.info(Self.command("INFO"), status: status, keyspace: counts) else {
            Issue.record("INFO is a bulk string")
            return
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for field in [
            "redis_version:7.0.0", "redis_mode:standalone", "arch_bits:64", "connected_clients:3", "blocked_clients:1",
            "used_memory:", "# Stats\r\ntotal_connections_received:7\r\ntotal_commands_processed:42\r\n",
            "cluster_enabled:0", "role:master", "# Keyspace\r\ndb0:keys=5,expires=2,avg_ttl=0",
        ] {
            #expect(text.contains(field), "INFO lacks \(field)")
        }
        guard
            case .bulkString(let only) = session.info(
                Self.command("INFO", ["keyspace"]), status: status, keyspace: counts)
        else { return }
        #expect(String(decoding: only, as: UTF8.self) == "# Keyspace\r\ndb0:keys=5,expires=2,avg_ttl=0\r\n")
        #expect(RESPValue.format(1.1) == "1.1000000000000001" && RESPValue.format(3) == "3")
        #expect(RESPValue.format(1e17) == "1e+17" && RESPValue.format(-.infinity) == "-inf")
    }

    @Test("BLPOP and BRPOP pop at once, or wait for a push without blocking, or time out with the null array")
    func blockingPops() throws {
        let backend = Backend()
        let executor = RedisExecutor(backend: backend)
        let answer = RedisCommandTests.Box<RESPValue>()
        func pop(_ parts: String..., timeout: Int64) -> (@Sendable () -> Void)? {
            answer.value = nil
            let command = Self.command(parts[0], Array(parts.dropFirst()))
            return executor.blockingPop(command, timeoutMilliseconds: timeout) { answer.value = $0 }
        }
        #expect(Self.run(executor, "RPUSH", "q", "a", "b") == .integer(2))
        #expect(pop("BRPOP", "empty", "q", "0", timeout: 0) == nil, "answered at once, it leaves nothing waiting")
        #expect(answer.value == .array([.bulkString("q"), .bulkString("b")]), "a list with an element pops at once")

        _ = pop("BLPOP", "empty", "other", "0", timeout: 0)
        #expect(answer.value == nil, "nothing to pop: it waits")
        #expect(Self.run(executor, "SET", "unrelated", "1") == .ok)
        #expect(answer.value == nil)
        #expect(Self.run(executor, "LPUSH", "other", "x") == .integer(1))
        #expect(answer.value == .array([.bulkString("other"), .bulkString("x")]), "the push woke it")
        #expect(Self.run(executor, "LLEN", "other") == .integer(0), "and the element was popped exactly once")
        #expect(backend.observers.isEmpty)

        _ = pop("BLPOP", "empty", "1.5", timeout: 1500)
        backend.advance(milliseconds: 1499)
        #expect(answer.value == nil)
        backend.advance(milliseconds: 1)
        #expect(answer.value == .nullArray, "timed out")
        #expect(backend.observers.isEmpty && backend.timers.isEmpty)

        let end = try #require(pop("BLPOP", "empty", "0", timeout: 0), "nothing to pop: it waits")
        end()
        #expect(Self.run(executor, "RPUSH", "empty", "kept") == .integer(1))
        #expect(answer.value == nil && Self.run(executor, "LLEN", "empty") == .integer(1), "an ended wait pops nothing")

        #expect(Self.run(executor, "SET", "s", "v") == .ok)
        #expect(pop("BLPOP", "s", "0", timeout: 0) == nil)
        #expect(answer.value == Self.wrongType)
        #expect(Self.run(executor, "BLPOP", "s", "-1") == .error("ERR timeout is negative"))
        #expect(Self.run(executor, "BLPOP", "s", "soon") == .error("ERR timeout is not a float or out of range"))
        #expect(Self.run(executor, "BLPOP", "nothing", "0") == .nullArray, "inside MULTI it does not block")
    }

    /// Redis serves the clients blocked on a list in the order they blocked; several pushed elements go one to each.
    @Test("clients blocked on one list are served longest-waiting first")
    func blockingPopsAreServedInOrder() throws {
        let backend = Backend()
        let executor = RedisExecutor(backend: backend)
        let waiters = 6
        let answers = (0..<waiters).map { _ in RedisCommandTests.Box<RESPValue>() }
        for answer in answers {
            _ = executor.blockingPop(Self.command("BLPOP", ["queue", "0"]), timeoutMilliseconds: 0) {
                answer.value = $0
            }
        }
        for element in 0..<waiters - 2 {
            #expect(Self.run(executor, "RPUSH", "queue", "e\(element)") == .integer(1))
        }
        #expect(Self.run(executor, "RPUSH", "queue", "x", "y") == .integer(2), "two at once go to the next two")
        let expected = (0..<waiters - 2).map { "e\($0)" } + ["x", "y"]
        for (waiter, element) in expected.enumerated() {
            #expect(
                answers[waiter].value == .array([.bulkString("queue"), .bulkString(element)]),
                "waiter \(waiter) of \(waiters), in the order they blocked")
        }
        #expect(backend.observers.isEmpty && Self.run(executor, "LLEN", "queue") == .integer(0))

        // A waiter that gives up lets the one behind it take its turn.
        for answer in answers { answer.value = nil }
        let ends = try answers.prefix(3).map { answer in
            try #require(
                executor.blockingPop(Self.command("BLPOP", ["queue", "0"]), timeoutMilliseconds: 0) {
                    answer.value = $0
                })
        }
        ends[0]()
        #expect(Self.run(executor, "RPUSH", "queue", "z") == .integer(1))
        #expect(answers[0].value == nil && answers[2].value == nil)
        #expect(answers[1].value == .array([.bulkString("queue"), .bulkString("z")]))
        ends[2]()
        #expect(backend.observers.isEmpty)
    }

    @Test("commands waiting for a busy key run together as one transaction, each with its own reply, in order")
    func hotKeyBatches() {
        let backend = Backend()
        let executor = RedisExecutor(backend: backend)
        backend.heldWrites = []
        let replies = RedisCommandTests.Box<[String: RESPValue]>()
        replies.value = [:]
        func send(_ tag: String, _ parts: String...) {
            executor.transaction([Self.command(parts[0], Array(parts.dropFirst()))]) { result in
                replies.value?[tag] = (try? result.get())??.first ?? .error("failed: \(result)")
            }
        }
        send("first", "RPUSH", "q", "a")
        send("second", "RPUSH", "q", "b")
        send("pop", "LPOP", "q")
        send("wrong", "HSET", "q", "f", "v")
        send("third", "RPUSH", "q", "c")
        send("other", "INCR", "n")
        backend.releaseWrites()
        #expect(replies.value?["first"] == .integer(1) && replies.value?["other"] == .integer(1))
        #expect(replies.value?["second"] == nil, "the waiting commands wait for the first to finish")
        backend.releaseWrites()
        #expect(replies.value?["second"] == .integer(2))
        #expect(replies.value?["pop"] == .bulkString("a"))
        #expect(replies.value?["wrong"] == Self.wrongType, "a failing command fails alone")
        #expect(replies.value?["third"] == .integer(2))
        #expect(backend.transactions == 3, "first, other, and one for the four that waited")
        backend.heldWrites = nil
        #expect(Self.run(executor, "LRANGE", "q", "0", "-1") == .array([.bulkString("b"), .bulkString("c")]))
    }

    static func command(_ name: String, _ arguments: [String] = []) -> RedisCommand {
        RedisCommand(name: name, arguments: arguments.map { Array($0.utf8) })
    }
}
