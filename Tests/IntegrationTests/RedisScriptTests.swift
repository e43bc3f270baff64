import NIOCore
import NIOPosix
import QuorumStore
import QuorumWire
import Testing

@testable import QuorumLua
@testable import QuorumServer

/// Tests that need the system's Lua 5.1 are skipped, naming the package, when it is missing.
let luaInstalled = LuaLibrary.isAvailable

/// Scripts through the executor, against the in-memory store of `RedisCommandTests`: atomicity, reruns on conflict,
/// the keys a script may reach, and the busy and kill rules. The executor runs on an event loop of the test's own, as
/// the port runs it on the node's.
@Suite("Redis port scripts", .enabled(if: luaInstalled, "Lua 5.1 not found: apt-get install liblua5.1-0"))
final class RedisScriptTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let backend = RedisCommandTests.MemoryBackend()
    let executor: RedisExecutor
    let scripting: RedisScripting
    var loop: any EventLoop { group.next() }

    init() {
        executor = RedisExecutor(backend: backend)
        scripting = RedisScripting(
            loop: group.next(), busyThreshold: .milliseconds(50),
            limits: LuaScriptEngine.Limits(instructionsMax: 20_000_000))
    }

    deinit {
        try? group.syncShutdownGracefully()
    }

    /// EVAL (or EVAL_RO) of `source` with `keys` and `arguments`, as the port runs it.
    func eval(_ source: String, keys: [String] = [], _ arguments: String..., readOnly: Bool = false) async throws
        -> RESPValue
    {
        let (executor, scripting) = (executor, scripting)
        let promise = loop.makePromise(of: RESPValue.self)
        loop.execute {
            executor.script(
                RedisScripting.Invocation(
                    script: .source(Array(source.utf8)), keys: keys.map { Array($0.utf8) },
                    arguments: arguments.map { Array($0.utf8) }, readOnly: readOnly),
                scripting: scripting, reply: promise.succeed)
        }
        return try await promise.futureResult.get()
    }

    /// A plain command through the executor, on the loop.
    func command(_ parts: String...) async throws -> RESPValue {
        let executor = executor
        return try await loop.submit { RedisCommandTests.run(executor, parts) }.get()
    }

    func stored(_ key: String) -> String? {
        backend.store.get(Array(key.utf8)).map { String(decoding: $0.value, as: UTF8.self) }
    }

    /// SCRIPT LOAD through the node's scripting, on the loop.
    func load(_ source: String) async throws -> RESPValue {
        let (scripting, loop) = (scripting, loop)
        let promise = loop.makePromise(of: RESPValue.self)
        loop.execute { scripting.load(Array(source.utf8), then: promise.succeed) }
        return try await promise.futureResult.get()
    }

    /// EVALSHA as the port runs it once the SHA-1 is known here.
    func evalsha(_ sha: String, keys: [String]) async throws -> RESPValue {
        let (executor, scripting) = (executor, scripting)
        let promise = loop.makePromise(of: RESPValue.self)
        loop.execute {
            executor.script(
                RedisScripting.Invocation(
                    script: .sha(sha), keys: keys.map { Array($0.utf8) }, arguments: [], readOnly: false),
                scripting: scripting, reply: promise.succeed)
        }
        return try await promise.futureResult.get()
    }

    @Test("SCRIPT LOAD, EXISTS and FLUSH; EVALSHA of a flushed script answers NOSCRIPT")
    func scriptCache() async throws {
        let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        #expect(try await load("return 1") == .bulkString(sha))
        let scripting = scripting
        #expect(try await loop.submit { scripting.exists(Array(sha.uppercased().utf8)) }.get())
        #expect(try await evalsha(sha, keys: []) == .integer(1))
        #expect(
            try await load("syntax error here")
                == .error("ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"))
        try await loop.submit { scripting.flush() }.get()
        #expect(try await loop.submit { scripting.exists(Array(sha.utf8)) }.get() == false)
        #expect(try await evalsha(sha, keys: []) == .error("NOSCRIPT No matching script. Please use EVAL."))
        #expect(try await eval("return 1") == .integer(1))
        #expect(try await loop.submit { scripting.exists(Array(sha.utf8)) }.get())
    }

    @Test("a script's writes apply together; one that fails half-way writes nothing")
    func atomicity() async throws {
        #expect(
            try await eval(
                "redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[2])", keys: ["a", "n"], "x")
                == .integer(1))
        #expect(stored("a") == "x" && stored("n") == "1")
        let failed = try await eval(
            "redis.call('set', KEYS[1], 'lost') redis.call('incr', KEYS[2]) error('half-way')", keys: ["a", "n"])
        guard case .error(let message) = failed else {
            Issue.record("the script should fail, got \(failed)")
            return
        }
        #expect(message.hasPrefix("ERR user_script:1: half-way script: "))
        #expect(stored("a") == "x" && stored("n") == "1", "nothing of the failed script was written")
        // A redis.call error raised in the middle: the same.
        #expect(try await eval("redis.call('set', KEYS[1], 'y') redis.call('incr', KEYS[1])", keys: ["a"]) != .ok)
        #expect(stored("a") == "x")
        // A script that returns an error reply (rather than raising) keeps its writes, as in Redis.
        #expect(
            try await eval("redis.call('set', KEYS[1], 'z') return redis.error_reply('NO')", keys: ["a"])
                == .error("NO"))
        #expect(stored("a") == "z")
    }

    @Test("a script reaches only its declared keys; read-only scripts cannot write; scripts cannot nest")
    func refusals() async throws {
        #expect(try await command("SET", "other", "1") == .ok)
        let undeclared = try await eval("return redis.call('get', 'other')")
        guard case .error(let message) = undeclared else {
            Issue.record("an undeclared key should be refused, got \(undeclared)")
            return
        }
        #expect(message.hasPrefix("ERR Script attempted to access a non local key in a cluster node"))
        #expect(
            try await eval("return redis.pcall('set', KEYS[1], 'v')", keys: ["k"], readOnly: true)
                == .error("ERR Write commands are not allowed from read-only scripts."))
        #expect(
            try await eval("return redis.call('get', KEYS[1])", keys: ["other"], readOnly: true) == .bulkString("1"))
        #expect(
            try await eval("return redis.pcall('eval', 'return 1', '0')")
                == .error("ERR This Redis command is not allowed from script"))
        #expect(
            try await eval("return redis.pcall('nosuch')") == .error("ERR Unknown Redis command called from script"))
        #expect(
            try await eval("return redis.pcall('get')")
                == .error("ERR Wrong number of args calling Redis command from script"))
        #expect(stored("k") == nil)
    }

    @Test("a write that slips in under a script makes it run again from scratch, on the new value")
    func conflictReruns() async throws {
        #expect(try await command("SET", "n", "10") == .ok)
        backend.interloper = { store in
            _ = store.apply(.put(PutRequest(key: Array("n".utf8), value: Array("100".utf8))))
        }
        let incrementing =
            "local v = tonumber(redis.call('get', KEYS[1])) redis.call('set', KEYS[1], v + 1) return v + 1"
        #expect(try await eval(incrementing, keys: ["n"]) == .integer(101))
        #expect(stored("n") == "101")
    }

    @Test("a runaway script: past its budget it is stopped and writes nothing; other commands are served meanwhile")
    func budget() async throws {
        let stopped = try await eval("redis.call('set', KEYS[1], 'x') while true do end", keys: ["b"])
        guard case .error(let message) = stopped else {
            Issue.record("the runaway script should be stopped, got \(stopped)")
            return
        }
        #expect(message.hasPrefix("ERR Script killed: it ran past its budget of 20000000 Lua instructions script: "))
        #expect(stored("b") == nil)
        #expect(try await command("GET", "b") == .null)
    }

    @Test("BUSY: past the threshold new scripts are refused, SCRIPT KILL stops the script, and the rest is served")
    func busyAndKill() async throws {
        // An endless loop with a budget too large to end it within the test: only SCRIPT KILL can.
        let scripting = RedisScripting(
            loop: loop, busyThreshold: .milliseconds(50), limits: LuaScriptEngine.Limits(instructionsMax: .max))
        let (executor, loop) = (executor, loop)
        let promise = loop.makePromise(of: RESPValue.self)
        loop.execute {
            executor.script(
                RedisScripting.Invocation(
                    script: .source(Array("redis.call('set', KEYS[1], 'x') while true do end".utf8)),
                    keys: [Array("k".utf8)], arguments: [], readOnly: false),
                scripting: scripting, reply: promise.succeed)
        }
        // Wait (bounded) until the script has run past the threshold.
        let busy = try await Patience.within(seconds: 30) {
            while try await loop.submit({ scripting.busy }).get() == nil {
                try await Task.sleep(for: .milliseconds(10))
            }
            return true
        }
        #expect(busy == true)
        #expect(
            try await loop.submit { scripting.busy }.get()
                == .error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."))
        // Commands on other keys are served while the script runs.
        #expect(try await command("SET", "free", "1") == .ok)
        #expect(try await command("GET", "free") == .bulkString("1"))
        #expect(try await loop.submit { scripting.kill() }.get() == .ok)
        let reply = try await Patience.within(seconds: 30) { try await promise.futureResult.get() }
        guard case .error(let message)? = reply else {
            Issue.record("the killed script should answer an error, got \(String(describing: reply))")
            return
        }
        #expect(message.hasPrefix("ERR Script killed by user with SCRIPT KILL... script: "))
        #expect(stored("k") == nil, "the killed script wrote nothing")
        #expect(
            try await loop.submit { scripting.kill() }.get() == .error("NOTBUSY No scripts in execution right now."))
        #expect(try await loop.submit { scripting.busy }.get() == nil)
    }
}

/// A node without Lua: the port runs, and every script command says which package it needs.
@Suite("Redis port scripts without Lua")
struct RedisScriptsWithoutLuaTests {
    @Test("without the Lua library, script commands answer an error naming the package")
    func missingLibrary() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let scripting = RedisScripting(
            loop: group.next(), busyThreshold: .seconds(5), limits: LuaScriptEngine.Limits(),
            library: LuaLibrary.load(["/nonexistent/liblua5.1.so.0"]))
        guard case .error(let message)? = scripting.unavailable else {
            Issue.record("a node without Lua should refuse scripts")
            return
        }
        #expect(message.hasPrefix("ERR Lua scripting needs the liblua5.1-0 package (Lua 5.1)"))
        #expect(message.contains("apt-get install liblua5.1-0"))
    }
}
