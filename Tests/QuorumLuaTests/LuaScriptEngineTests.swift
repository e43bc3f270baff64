import Testing

@testable import QuorumLua
@testable import QuorumWire

/// Tests that need the system's Lua 5.1 are skipped, naming the package, when it is missing.
let luaInstalled = LuaLibrary.isAvailable

/// An engine with a small budget, and a `redis.call` that records its calls and answers from a script of replies.
final class Harness {
    let engine: LuaScriptEngine
    var calls: [[String]] = []
    var answer: ([String]) -> RESPValue = { _ in .simpleString("OK") }

    init(limits: LuaScriptEngine.Limits = .init(instructionsMax: 5_000_000, memoryBytesMax: 32 << 20)) throws {
        engine = try LuaScriptEngine(library: LuaLibrary.shared.get(), limits: limits)
    }

    func eval(_ source: String, keys: [String] = [], argv: [String] = []) -> RESPValue {
        let sha: String
        switch engine.load(Array(source.utf8)) {
        case .failure(let error): return error.reply
        case .success(let loaded): sha = loaded
        }
        let reply = engine.run(sha: sha, keys: keys.map { Array($0.utf8) }, arguments: argv.map { Array($0.utf8) }) {
            arguments in
            let words = arguments.map { String(decoding: $0, as: UTF8.self) }
            self.calls.append(words)
            return self.answer(words)
        }
        return reply?.reply ?? .error("no such script")
    }

    /// The error text without the " script: <sha>, on @user_script:N." Redis appends.
    func errorMessage(_ source: String) -> String? {
        guard case .error(let text) = eval(source) else { return nil }
        let marker = Array(" script: ".utf8)
        let bytes = Array(text.utf8)
        let end = (0...max(0, bytes.count - marker.count)).first {
            Array(bytes[$0..<min(bytes.count, $0 + marker.count)]) == marker
        }
        return String(decoding: bytes[..<(end ?? bytes.count)], as: UTF8.self)
    }
}

@Suite("Lua scripting engine", .enabled(if: luaInstalled, "Lua 5.1 not found: apt-get install liblua5.1-0"))
struct LuaScriptEngineTests {
    @Test("redis.sha1hex is Redis's")
    func sha1hex() throws {
        let harness = try Harness()
        #expect(harness.eval("return redis.sha1hex('abc')") == .bulkString("a9993e364706816aba3e25717850c26c9cd0d89d"))
        #expect(harness.eval("return redis.sha1hex(12)") == .bulkString(SHA1.hex(Array("12".utf8))))
        #expect(harness.errorMessage("return redis.sha1hex()") == "ERR wrong number of arguments")
    }

    @Test("Lua to RESP: numbers truncate, false and nil are null, true is 1, arrays stop at the first nil")
    func luaToRESP() throws {
        let harness = try Harness()
        #expect(harness.eval("return 3.99") == .integer(3))
        #expect(harness.eval("return -3.99") == .integer(-3))
        #expect(harness.eval("return -0.5") == .integer(0))
        // What x86-64 gives for a double that does not fit, and for NaN, as Redis sends it.
        #expect(harness.eval("return 1e300") == .integer(.min))
        #expect(harness.eval("return 0/0") == .integer(.min))
        #expect(harness.eval("return false") == .null)
        #expect(harness.eval("return nil") == .null)
        #expect(harness.eval("return true") == .integer(1))
        #expect(harness.eval("return ''") == .bulkString([]))
        #expect(harness.eval("return 'a\\0b'") == .bulkString([0x61, 0, 0x62]))
        #expect(harness.eval("return function() end") == .null)
        #expect(
            harness.eval("return {1, false, true, 'a', {err='x'}, 3.7, -3.7, {ok='ST'}}")
                == .array([
                    .integer(1), .null, .integer(1), .bulkString("a"), .error("x"), .integer(3), .integer(-3),
                    .simpleString("ST"),
                ]))
        #expect(harness.eval("return {1, 2, 3.7, nil, 4}") == .array([.integer(1), .integer(2), .integer(3)]))
        #expect(harness.eval("local t = {} t[1] = 1 t[3] = 3 return t") == .array([.integer(1)]))
        #expect(harness.eval("return {k = 1}") == .array([]))
        #expect(harness.eval("return {ok = 5}") == .array([]))
        #expect(
            harness.eval("return {1, {2, {3, {4}}}}")
                == .array([.integer(1), .array([.integer(2), .array([.integer(3), .array([.integer(4)])])])]))
        #expect(harness.eval("return {err = 'MY boom'}") == .error("MY boom"))
        #expect(harness.eval("return redis.error_reply('x y')") == .error("x y"))
        #expect(harness.eval("return redis.error_reply('-x y')") == .error("x y"))
        #expect(harness.eval("return redis.status_reply('FINE')") == .simpleString("FINE"))
        #expect(harness.eval("return redis.error_reply()") == .error("ERR wrong number or type of arguments"))
        #expect(harness.eval("return redis.status_reply(5)") == .error("ERR wrong number or type of arguments"))
        // A table that holds itself is cut where the nesting runs too deep, not followed forever.
        guard case .array(let outer) = harness.eval("local t = {} t[1] = t return t") else {
            Issue.record("a self-holding table should still give an array")
            return
        }
        #expect(outer.count == 1)
        #expect(
            harness.eval("local t = {} t[1] = t t[2] = t return t") == .error("ERR the script's reply is too large"))
    }

    @Test("RESP to Lua: redis.call's replies reach the script as Redis converts them")
    func respToLua() throws {
        let harness = try Harness()
        harness.answer = { words in
            switch words[1] {
            case "int": .integer(42)
            case "bulk": .bulkString("v")
            case "null": .null
            case "status": .simpleString("OK")
            case "array": .array([.integer(1), .bulkString("two"), .null, .array([.integer(3)])])
            default: .error("ERR boom")
            }
        }
        #expect(
            harness.eval("local v = redis.call('get', 'int') return {type(v), v}")
                == .array([.bulkString("number"), .integer(42)]))
        #expect(harness.eval("return type(redis.call('get', 'null'))") == .bulkString("boolean"))
        #expect(harness.eval("return redis.call('get', 'null') == false") == .integer(1))
        #expect(harness.eval("local t = redis.call('set', 'status') return type(t) .. t.ok") == .bulkString("tableOK"))
        #expect(harness.eval("return redis.call('set', 'status')") == .simpleString("OK"))
        // A null inside an array is false in Lua, so the table goes on past it, and back as a null.
        #expect(
            harness.eval("local t = redis.call('lrange', 'array') return {#t == 4, t[2], t[3], t[4][1]}")
                == .array([.integer(1), .bulkString("two"), .null, .integer(3)]))
        #expect(harness.eval("local t = redis.call('lrange', 'array') return t[4][1]") == .integer(3))
        // redis.pcall hands the error over as a table; redis.call raises it, with where it happened.
        #expect(harness.eval("return redis.pcall('get', 'error')") == .error("ERR boom"))
        #expect(harness.eval("local e = redis.pcall('get', 'error') return e.err") == .bulkString("ERR boom"))
        // (Not `return redis.call(...)`: a Lua tail call leaves no frame of the script to name the line of.)
        guard case .error(let raised) = harness.eval("\nlocal v = redis.call('get', 'error') return v") else {
            Issue.record("redis.call should raise the error")
            return
        }
        #expect(raised.hasPrefix("ERR boom script: ") && raised.hasSuffix(", on @user_script:2."))
        // Arguments: strings as they are, numbers as Redis prints them (%.17g).
        _ = harness.eval("return redis.call('set', 'k', 3.99, 7, 1e20, 0.1)")
        #expect(harness.calls.last == ["set", "k", "3.9900000000000002", "7", "1e+20", "0.10000000000000001"])
        #expect(
            harness.errorMessage("return redis.call('get', {})")
                == "ERR Lua redis lib command arguments must be strings or integers")
        #expect(
            harness.errorMessage("return redis.call()")
                == "ERR Please specify at least one argument for this redis lib call")
        #expect(
            harness.eval("return {KEYS[1], ARGV[1], #KEYS, #ARGV}", keys: ["k"], argv: ["v", "w"])
                == .array([.bulkString("k"), .bulkString("v"), .integer(1), .integer(2)]))
    }

    @Test("redis.setresp(3): replies reach the script as RESP3 types, and the script's return may be one")
    func resp3() throws {
        let harness = try Harness()
        harness.answer = { words in
            switch words[1] {
            case "map": .map([RESPValue.MapEntry(.bulkString("f"), .integer(7))])
            case "set": .set([.bulkString("a"), .bulkString("b")])
            case "double": .double(1.5)
            case "bool": .boolean(true)
            case "big": .bigNumber("123456789012345678901234567890")
            case "verbatim": .verbatimString(format: "txt", text: Array("hello".utf8))
            case "pairs": .pairs([RESPValue.MapEntry(.bulkString("m"), .double(2))])
            default: .null
            }
        }
        // RESP2, the default: maps flat, doubles as strings, null false.
        #expect(harness.eval("return redis.call('x', 'map')") == .array([.bulkString("f"), .integer(7)]))
        #expect(harness.eval("return redis.call('x', 'double')") == .bulkString("1.5"))
        #expect(harness.eval("return redis.call('x', 'null') == false") == .integer(1))
        // RESP3: each type as Redis hands it to Lua.
        let resp3 = "redis.setresp(3) "
        #expect(harness.eval(resp3 + "return redis.call('x', 'map').map.f") == .integer(7))
        #expect(
            harness.eval(resp3 + "local s = redis.call('x', 'set').set return {s.a, s.b, s.c}")
                == .array([.boolean(true), .boolean(true)]))
        #expect(harness.eval(resp3 + "return redis.call('x', 'double').double * 2") == .integer(3))
        #expect(harness.eval(resp3 + "return type(redis.call('x', 'bool'))") == .bulkString("boolean"))
        #expect(harness.eval(resp3 + "return redis.call('x', 'null') == nil") == .boolean(true))
        #expect(
            harness.eval(resp3 + "return redis.call('x', 'big').big_number")
                == .bulkString("123456789012345678901234567890"))
        #expect(
            harness.eval(resp3 + "local v = redis.call('x', 'verbatim').verbatim_string return {v.format, v.string}")
                == .array([.bulkString("txt"), .bulkString("hello")]))
        #expect(harness.eval(resp3 + "return redis.call('x', 'pairs')[1][2].double") == .integer(2))
        // Returned RESP3 types, with or without setresp; booleans follow it.
        #expect(harness.eval("return {double = 3.5}") == .double(3.5))
        #expect(harness.eval("return {big_number = '12'}") == .bigNumber("12"))
        #expect(
            harness.eval("return {verbatim_string = {format = 'txt', string = 'hi'}}")
                == .verbatimString(format: "txt", text: Array("hi".utf8)))
        #expect(harness.eval("return {map = {a = 1}}") == .map([RESPValue.MapEntry(.bulkString("a"), .integer(1))]))
        #expect(harness.eval("return {set = {a = true}}") == .set([.bulkString("a")]))
        #expect(harness.eval("return {double = 'x'}") == .array([]))
        #expect(harness.eval(resp3 + "return true") == .boolean(true))
        #expect(harness.eval(resp3 + "return false") == .boolean(false))
        #expect(
            harness.eval(resp3 + "return redis.call('x', 'map')")
                == .map([RESPValue.MapEntry(.bulkString("f"), .integer(7))]))
        // Each run starts in RESP2 again.
        #expect(harness.eval("return true") == .integer(1))
        #expect(harness.errorMessage("redis.setresp(4)") == "ERR RESP version must be 2 or 3.")
        #expect(harness.errorMessage("redis.setresp()") == "ERR redis.setresp() requires one argument.")
        #expect(harness.errorMessage("redis.setresp(2, 3)") == "ERR redis.setresp() requires one argument.")
        #expect(harness.eval("redis.setresp('3') return true") == .boolean(true))
    }

    @Test("Errors: Redis's words, with the script's SHA-1 and line")
    func errors() throws {
        let harness = try Harness()
        let sha = SHA1.hex(Array("error('boom')".utf8))
        #expect(harness.eval("error('boom')") == .error("ERR user_script:1: boom script: \(sha), on @user_script:1."))
        #expect(harness.errorMessage("error({err = 'MYERR boom'})") == "MYERR boom")
        // A raised table whose line no frame of the script replaces (a tail call into loaded code): any number there,
        // even one no integer holds, is left out rather than trusted.
        for line in ["1/0", "0/0", "-5", "1e300"] {
            let sha = SHA1.hex(Array("return loadstring(\"error({err = 'X', line = \(line)})\")()".utf8))
            #expect(
                harness.eval("return loadstring(\"error({err = 'X', line = \(line)})\")()")
                    == .error("X script: \(sha)"))
        }
        #expect(
            harness.eval("syntax error here")
                == .error("ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"))
        #expect(
            harness.errorMessage("local t = nil; return t.x")?.hasPrefix("ERR user_script:1: attempt to index") == true)
    }

    @Test("Sandbox: no os, io, loadfile, dofile, require; globals and libraries are read-only")
    func sandbox() throws {
        let harness = try Harness()
        for name in [
            "os", "io", "loadfile", "dofile", "require", "module", "package", "debug", "getfenv", "setfenv", "newproxy",
            "print", "coroutine",
        ] {
            #expect(
                harness.errorMessage("return type(\(name))")
                    == "ERR user_script:1: Script attempted to access nonexistent global variable '\(name)'")
        }
        #expect(harness.errorMessage("x = 5") == "ERR user_script:1: Attempt to modify a readonly table")
        #expect(harness.errorMessage("_G.x = 5") == "ERR user_script:1: Attempt to modify a readonly table")
        #expect(harness.errorMessage("string.foo = 1") == "ERR user_script:1: Attempt to modify a readonly table")
        #expect(harness.errorMessage("redis.call = nil") == "ERR user_script:1: Attempt to modify a readonly table")
        #expect(harness.errorMessage("rawset(_G, 'x', 1)") == "ERR Attempt to modify a readonly table")
        #expect(harness.errorMessage("rawset(math, 'pi', 3)") == "ERR Attempt to modify a readonly table")
        #expect(harness.errorMessage("setmetatable(_G, nil)")?.contains("cannot change a protected metatable") == true)
        #expect(harness.eval("return getmetatable('')") == .null)
        // Code compiled inside a script lands in the same sandbox.
        #expect(
            harness.errorMessage("loadstring('y = 1')()")
                == "ERR [string \"y = 1\"]:1: Attempt to modify a readonly table")
        #expect(
            harness.errorMessage("return loadstring('return os')()")
                == "ERR [string \"return os\"]:1: Script attempted to access nonexistent global variable 'os'")
        // Precompiled bytecode is refused, as a script and from inside one (it is not checked, so it could break out).
        #expect(
            harness.eval("\u{1b}Lua\u{51}\0")
                == .error("ERR Error compiling script (new function): bytecode loading is not allowed"))
        #expect(
            harness.eval("local f, e = loadstring(string.dump(function() return 1 end)) return {tostring(f), e}")
                == .array([.bulkString("nil"), .bulkString("bytecode loading is not allowed")]))
        #expect(
            harness.eval(
                "local s = string.dump(function() return 1 end) local f, e = load(function() local c = s s = nil return c end) return e"
            )
                == .bulkString("bytecode loading is not allowed"))
        #expect(harness.eval("return loadstring('return 1 + 1')()") == .integer(2))
        // Local state is the script's own, and nothing leaks from one run into the next.
        #expect(harness.eval("local x = 5 return x") == .integer(5))
        #expect(
            harness.eval("return string.upper('a') .. table.concat({'b', 'c'}) .. math.floor(2.5)")
                == .bulkString("Abc2"))
        // math.random is the same sequence in every run, so a rerun script decides the same.
        let first = harness.eval("return {math.random(1000000), math.random(1000000), math.random(10, 20)}")
        #expect(harness.eval("return {math.random(1000000), math.random(1000000), math.random(10, 20)}") == first)
    }

    @Test("The instruction budget stops a runaway script, even one that catches errors, and the engine runs on")
    func budget() throws {
        let harness = try Harness()
        let stopped = harness.eval("while true do end")
        guard case .error(let message) = stopped else {
            Issue.record("an endless loop should be stopped, got \(stopped)")
            return
        }
        #expect(message.hasPrefix("ERR Script killed: it ran past its budget of 5000000 Lua instructions script: "))
        #expect(message.hasSuffix(", on @user_script:1."))
        // pcall catches the first raise, but the hook raises again at the next instruction outside it.
        #expect(
            harness.errorMessage("while true do pcall(function() while true do end end) end")
                == "ERR Script killed: it ran past its budget of 5000000 Lua instructions")
        #expect(harness.eval("return 1") == .integer(1))
        // Killing (SCRIPT KILL) works the same, from another thread: here, asked before the script starts checking.
        harness.answer = { _ in
            harness.engine.interrupt.kill()
            return .simpleString("OK")
        }
        #expect(
            harness.errorMessage("redis.call('ping') while true do end")
                == "ERR Script killed by user with SCRIPT KILL...")
        #expect(harness.eval("local n = 0 for i = 1, 1000 do n = n + i end return n") == .integer(500_500))
    }

    @Test("Memory: a script that allocates past the limit fails, and the engine runs on")
    func memory() throws {
        let harness = try Harness()
        let reply = harness.eval("local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 100) .. i end return #t")
        #expect(reply == .error("ERR not enough memory"))
        #expect(harness.eval("return #string.rep('x', 1000)") == .integer(1000))
    }

    @Test("The cache: scripts are kept by SHA-1 until flushed")
    func cache() throws {
        let harness = try Harness()
        let sha = try harness.engine.load(Array("return 1".utf8)).get()
        #expect(sha == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
        #expect(harness.engine.contains(sha))
        #expect(
            harness.engine.run(sha: sha, keys: [], arguments: []) { _ in .simpleString("OK") }
                == .init(reply: .integer(1), failed: false))
        // A script that returns an error reply did not fail (its writes stand, as in Redis); one that raised did.
        let returned = try harness.engine.load(Array("return redis.error_reply('NO')".utf8)).get()
        #expect(
            harness.engine.run(sha: returned, keys: [], arguments: []) { _ in .simpleString("OK") }
                == .init(reply: .error("NO"), failed: false))
        let raised = try harness.engine.load(Array("redis.call('set', 'k', 'v') error('NO')".utf8)).get()
        #expect(harness.engine.run(sha: raised, keys: [], arguments: []) { _ in .simpleString("OK") }?.failed == true)
        harness.engine.flush()
        #expect(!harness.engine.contains(sha))
        #expect(harness.engine.run(sha: sha, keys: [], arguments: []) { _ in .simpleString("OK") } == nil)
    }

    @Test("Hostile scripts get an error or a value, never a crash, and the engine runs on")
    func hostile() throws {
        let harness = try Harness()
        let scripts = [
            "error()", "error(nil)", "error({})", "error({err = {}})", "return {err = {}}",
            "error(setmetatable({}, {__tostring = function() error('again') end}))",
            "return setmetatable({}, {__index = function() error('x') end})",
            "return redis.call(setmetatable({}, {__tostring = function() return 'get' end}))",
            "local function f() f() end f()", "local function f() pcall(f) end f()",
            "local function f() return f() end return f()",
            "return string.rep('x', 2^40)", "return ('x'):rep(1e9):len()",
            "return string.format('%99999999d', 1)", "return #{unpack({}, 1, 1e7)}",
            "local t = setmetatable({}, {__mode = 'k'}) collectgarbage('stop') return collectgarbage('count') > 0",
            "return xpcall(function() while true do end end, function() while true do end end)",
            "error(setmetatable({}, {__tostring = function() while true do end end}))",
            "return xpcall(function() error('x') end, function(e) return 'handled ' .. e end)",
            "local t = {} t.map = t return t", "local t = {} t.set = {[t] = true} return t",
            "return {map = {[{}] = {map = {}}}}", "return {map = setmetatable({}, {__pairs = error})}",
            "return {verbatim_string = {format = 1, string = {}}}", "return {double = 0/0}",
            "local m = {} for i = 1, 2e6 do m[i] = i end return {map = m}",
            "redis.setresp(3) return {set = {[true] = true, [1.5] = true}}",
        ]
        for script in scripts {
            switch harness.eval(script) {
            case .error, .integer, .bulkString, .array, .null, .simpleString, .map, .set, .double, .boolean: break
            case let other: Issue.record("\(script) gave \(other)")
            }
        }
        #expect(harness.eval("return 'still here'") == .bulkString("still here"))
    }

    @Test("A full cache is emptied before the next script, so ever new scripts cannot fill the node")
    func fullCache() throws {
        let harness = try Harness(limits: .init(instructionsMax: 5_000_000, memoryBytesMax: 32 << 20, scriptsMax: 3))
        let shas = try (1...3).map { try harness.engine.load(Array("return \($0)".utf8)).get() }
        #expect(shas.allSatisfy(harness.engine.contains))
        let flushes = harness.engine.flushes
        let fourth = try harness.engine.load(Array("return 4".utf8)).get()
        #expect(harness.engine.flushes == flushes + 1)
        #expect(harness.engine.contains(fourth))
        #expect(!shas.contains(where: harness.engine.contains))
        // A thousand distinct scripts later, the engine still compiles and runs them.
        for number in 0..<1000 { _ = harness.eval("return \(number)") }
        #expect(harness.eval("return 'still here'") == .bulkString("still here"))
    }
}

/// What needs no Lua: the SHA-1 scripts are named by, and the report of a missing library.
@Suite("Lua scripting without Lua")
struct LuaWithoutLuaTests {
    @Test("SHA-1 matches the standard vectors, and names scripts as Redis does")
    func sha1() {
        #expect(SHA1.hex([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hex(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(
            SHA1.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(SHA1.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        // Redis names `return 1` by this digest (redis-cli SCRIPT LOAD "return 1").
        #expect(SHA1.hex(Array("return 1".utf8)) == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }

    @Test("A missing library is reported naming the package")
    func missingLibrary() {
        guard case .failure(let error) = LuaLibrary.load(["/nonexistent/liblua5.1.so.0"]) else {
            Issue.record("a library that is not there should not load")
            return
        }
        #expect(error.description.contains("liblua5.1-0"))
    }
}
