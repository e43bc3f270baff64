import QuorumWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One Lua 5.1 state that runs Redis scripts: the sandbox (`LuaPrelude`), a cache of compiled scripts keyed by their
/// SHA-1, the conversions between Lua values and RESP exactly as Redis makes them, and the instruction budget.
///
/// Confined to one thread: whoever owns it calls it from one thread at a time (the server from its script thread).
/// Only `interrupt` may be touched from elsewhere, to kill the running script.
///
/// Lua reports errors with longjmp, which must never cross a Swift frame (Swift does not unwind, so anything a
/// skipped frame holds would leak or be left half-changed). Three rules keep every longjmp inside Lua's own C:
/// 1. Swift drives the state only with calls that cannot raise (pushes, raw gets and sets, type queries) outside a
///    protected call, and runs everything else (the prelude, scripts) inside lua_pcall or luaL_loadbuffer.
/// 2. The C functions Swift gives Lua (`redis.call`'s bridge, the budget check, sha1hex) never call lua_error: they
///    return an error as a value, and the prelude's Lua raises it.
/// 3. The only raise left inside a push is running out of memory, and the allocator refuses memory (to hold a script
///    to its limit) only while Lua code runs, never while Swift pushes, so those pushes cannot fail.
public final class LuaScriptEngine {
    public struct Limits: Sendable {
        /// A script running this many Lua instructions is stopped, its writes dropped (about a few seconds).
        public var instructionsMax: Int
        /// The memory the state may hold; a script that needs more fails with "not enough memory".
        public var memoryBytesMax: Int
        /// How many instructions run between two looks at the budget and at SCRIPT KILL.
        public var checkInterval: Int
        /// Compiled scripts kept at most: loading one more, or filling half the memory, empties the cache first (as
        /// SCRIPT FLUSH does), so clients sending ever new scripts cannot fill the node. EVALSHA then answers
        /// NOSCRIPT, and clients load the script again.
        public var scriptsMax: Int

        public init(
            instructionsMax: Int = 1_000_000_000, memoryBytesMax: Int = 256 << 20, checkInterval: Int = 10_000,
            scriptsMax: Int = 10_000
        ) {
            self.instructionsMax = instructionsMax
            self.memoryBytesMax = memoryBytesMax
            self.checkInterval = checkInterval
            self.scriptsMax = scriptsMax
        }
    }

    /// What a script needs of the server while it runs: `redis.call` with its arguments (the command name first).
    public typealias Call = ([[UInt8]]) -> RESPValue

    let lua: LuaLibrary
    let state: LuaLibrary.State
    let limits: Limits
    /// Set from any thread to stop the running script (SCRIPT KILL); cleared when a script starts.
    public let interrupt = Interrupt()
    private let memory: Memory
    /// The running script's `redis.call`, and how many instructions it ran.
    private var call: Call?
    private var instructions = 0
    private var stopped = false
    private var scriptCount = 0
    /// Counts the times the cache was emptied (SCRIPT FLUSH, or full), so an owner can tell its copy is stale.
    public private(set) var flushes = 0

    public final class Interrupt: Sendable {
        private let requested = Atomic(false)
        public init() {}
        public func kill() { requested.store(true, ordering: .relaxed) }
        var isRequested: Bool { requested.load(ordering: .relaxed) }
        func clear() { requested.store(false, ordering: .relaxed) }
    }

    /// What the allocator counts. A class, so that the allocator reaches it through its user-data pointer.
    final class Memory {
        var bytes = 0
        let limit: Int
        /// Set only while Lua code runs (rule 3 above).
        var refusing = false
        init(limit: Int) { self.limit = limit }
    }

    // Keys of the registry (negative: luaL_ref never hands those out).
    private static let engineKey: Int32 = -1
    private static let scriptsKey: Int32 = -2
    private static let runnerKey: Int32 = -3

    public static let killedMessage = "ERR Script killed by user with SCRIPT KILL..."

    public init(library: LuaLibrary, limits: Limits = Limits()) throws(LuaScriptError) {
        lua = library
        self.limits = limits
        memory = Memory(limit: limits.memoryBytesMax)
        guard let state = library.newstate(Self.allocate, Unmanaged.passUnretained(memory).toOpaque()) else {
            throw LuaScriptError(message: "ERR could not create a Lua state")
        }
        self.state = state
        lua.pushlightuserdata(state, Unmanaged.passUnretained(self).toOpaque())
        lua.rawseti(state, LuaLibrary.registryIndex, Self.engineKey)
        lua.newtable(state)
        lua.rawseti(state, LuaLibrary.registryIndex, Self.scriptsKey)
        try openLibraries()
        try runPrelude()
    }

    deinit {
        lua.close(state)
    }

    private func openLibraries() throws(LuaScriptError) {
        for (open, name) in [
            (lua.openBase, ""), (lua.openTable, "table"), (lua.openString, "string"), (lua.openMath, "math"),
            (lua.openDebug, "debug"),
        ] {
            lua.pushcclosure(state, open, 0)
            lua.push(state, Array(name.utf8))
            guard lua.pcall(state, 1, 0, 0) == LuaLibrary.Status.ok.rawValue else {
                defer { lua.settop(state, 0) }
                throw LuaScriptError(message: "ERR could not open Lua's \(name) library: \(errorText(at: -1))")
            }
        }
    }

    private func runPrelude() throws(LuaScriptError) {
        let source = Array(LuaPrelude.source.utf8)
        let status = source.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                lua.loadbuffer(state, $0.baseAddress, $0.count, LuaPrelude.chunkName)
            }
        }
        guard status == LuaLibrary.Status.ok.rawValue else {
            defer { lua.settop(state, 0) }
            throw LuaScriptError(message: "ERR the prelude does not compile: \(errorText(at: -1))")
        }
        lua.pushcclosure(state, Self.bridgeCall, 0)
        lua.pushcclosure(state, Self.bridgeBudget, 0)
        lua.pushcclosure(state, Self.bridgeSHA1, 0)
        lua.pushnumber(state, Double(limits.checkInterval))
        // debug goes to the prelude only, and out of the globals.
        lua.push(state, Array("debug".utf8))
        lua.rawget(state, LuaLibrary.globalsIndex)
        lua.push(state, Array("debug".utf8))
        lua.pushnil(state)
        lua.rawset(state, LuaLibrary.globalsIndex)
        guard lua.pcall(state, 5, 1, 0) == LuaLibrary.Status.ok.rawValue else {
            defer { lua.settop(state, 0) }
            throw LuaScriptError(message: "ERR the prelude failed: \(errorText(at: -1))")
        }
        lua.rawseti(state, LuaLibrary.registryIndex, Self.runnerKey)
        lua.settop(state, 0)
    }

    // MARK: Scripts

    /// Compiles `source` into the cache (a script already there is not compiled again) and answers its SHA-1, or the
    /// compile error as Redis words it.
    public func load(_ source: [UInt8]) -> Result<String, LuaScriptError> {
        let sha = SHA1.hex(source)
        if contains(sha) { return .success(sha) }
        // Precompiled bytecode is not checked by Lua 5.1 and could break out of the sandbox: source text only.
        guard source.first != 0x1b else {
            return .failure(
                LuaScriptError(message: "ERR Error compiling script (new function): bytecode loading is not allowed"))
        }
        if scriptCount >= limits.scriptsMax || memory.bytes > memory.limit / 2 {
            flush()
            _ = lua.gc(state, LuaLibrary.collectGarbage, 0)
        }
        defer { lua.settop(state, 0) }
        lua.rawgeti(state, LuaLibrary.registryIndex, Self.scriptsKey)
        lua.push(state, Array(sha.utf8))
        memory.refusing = true
        let status = source.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                lua.loadbuffer(state, $0.baseAddress, $0.count, "@user_script")
            }
        }
        memory.refusing = false
        guard status == LuaLibrary.Status.ok.rawValue else {
            return .failure(LuaScriptError(message: "ERR Error compiling script (new function): \(errorText(at: -1))"))
        }
        lua.rawset(state, 1)
        scriptCount += 1
        return .success(sha)
    }

    public func contains(_ sha: String) -> Bool {
        defer { lua.settop(state, 0) }
        lua.rawgeti(state, LuaLibrary.registryIndex, Self.scriptsKey)
        lua.push(state, Array(sha.utf8))
        lua.rawget(state, 1)
        return lua.type(state, -1) == LuaLibrary.ValueType.function.rawValue
    }

    /// SCRIPT FLUSH: forgets every compiled script.
    public func flush() {
        lua.newtable(state)
        lua.rawseti(state, LuaLibrary.registryIndex, Self.scriptsKey)
        scriptCount = 0
        flushes += 1
    }

    /// What a script answered, and whether it failed (raised an error, was killed, ran past its budget or out of
    /// memory) rather than returned: a failed script's writes are dropped.
    public struct Outcome: Equatable, Sendable {
        public var reply: RESPValue
        public var failed: Bool
        /// It was stopped (SCRIPT KILL, or past its budget): running it again would only be stopped again.
        public var stopped = false
    }

    /// Runs the cached script `sha` with `keys` and `arguments` as KEYS and ARGV; `call` answers its redis.call and
    /// redis.pcall. Answers the script's reply converted to RESP as Redis converts it (an error reply when the
    /// script failed), or nil when no script has that SHA-1.
    public func run(sha: String, keys: [[UInt8]], arguments: [[UInt8]], call: Call) -> Outcome? {
        defer {
            lua.settop(state, 0)
            // Lua 5.1 does not collect before it reports running out of memory: what a failed script left behind
            // would otherwise fail the next one.
            if memory.bytes > memory.limit / 2 { _ = lua.gc(state, LuaLibrary.collectGarbage, 0) }
            // A script may have stopped the collector (collectgarbage("stop")): the next one starts with it running.
            _ = lua.gc(state, LuaLibrary.restartCollector, 0)
        }
        lua.settop(state, 0)
        lua.rawgeti(state, LuaLibrary.registryIndex, Self.scriptsKey)
        lua.push(state, Array(sha.utf8))
        lua.rawget(state, 1)
        guard lua.type(state, 2) == LuaLibrary.ValueType.function.rawValue else { return nil }
        lua.rawgeti(state, LuaLibrary.registryIndex, Self.runnerKey)
        lua.pushvalue(state, 2)
        pushArray(keys)
        pushArray(arguments)
        interrupt.clear()
        instructions = 0
        stopped = false
        let status = withoutActuallyEscaping(call) { call in
            self.call = call
            memory.refusing = true
            defer {
                memory.refusing = false
                self.call = nil
            }
            return lua.pcall(state, 3, 3, 0)
        }
        guard status == LuaLibrary.Status.ok.rawValue else {
            return Outcome(reply: .error("ERR \(errorText(at: -1))"), failed: true)
        }
        guard lua.toboolean(state, 3) != 0 else {
            return Outcome(reply: failure(at: 4, sha: sha), failed: true, stopped: stopped)
        }
        var remaining = Self.replyElementsMax
        let version = Int(lua.tonumber(state, 5))
        return Outcome(reply: reply(at: 4, depth: 0, remaining: &remaining, version: version), failed: false)
    }

    private func pushArray(_ elements: [[UInt8]]) {
        lua.createtable(state, Int32(clamping: elements.count), 0)
        for (index, element) in elements.enumerated() {
            lua.push(state, element)
            lua.rawseti(state, -2, Int32(clamping: index + 1))
        }
    }

    /// The error reply for a failed script: Redis's message, with where in the script it failed.
    private func failure(at index: Int32, sha: String) -> RESPValue {
        guard lua.type(state, index) == LuaLibrary.ValueType.table.rawValue else {
            // Out of memory: Lua hands over a plain message and calls no handler.
            return .error("ERR \(errorText(at: index))")
        }
        let message = field("err", of: index).map { String(decoding: $0, as: UTF8.self) } ?? "ERR unknown error"
        lua.push(state, Array("line".utf8))
        lua.rawget(state, index)
        defer { lua.pop(state, 1) }
        // The line comes from Lua's debug information or, when no frame of the script was left to take it from (a
        // tail call), from the table the script raised, which may hold any number at all.
        let line = lua.tonumber(state, -1)
        guard lua.type(state, -1) == LuaLibrary.ValueType.number.rawValue, line >= 0, line < 1e9 else {
            return .error("\(message) script: \(sha)")
        }
        return .error("\(message) script: \(sha), on @user_script:\(Int(line)).")
    }

    /// The text of the string at `index`, for messages.
    private func errorText(at index: Int32) -> String {
        lua.bytes(state, index).map { String(decoding: $0, as: UTF8.self) } ?? "(no message)"
    }

    /// The string field `name` of the table at `index` (read raw: no metamethod runs), if it is a string.
    private func field(_ name: String, of index: Int32) -> [UInt8]? {
        lua.push(state, Array(name.utf8))
        lua.rawget(state, index < 0 ? index - 1 : index)
        defer { lua.pop(state, 1) }
        return lua.bytes(state, -1)
    }

    // MARK: Lua to RESP

    /// A reply bigger than this many elements (a table that holds itself, say) is refused rather than built.
    static let replyElementsMax = 1_000_000
    /// Tables nested deeper than this are cut, as Redis cuts them when its Lua stack runs out.
    static let replyDepthMax = 200

    /// Redis's conversion of a script's return value: a number truncated to an integer, a string a bulk string, true
    /// the integer 1 and false a null (in RESP3, after `redis.setresp(3)`, booleans), nil a null; a table with a
    /// string `err` an error, with a string `ok` a status, with a number `double` a double, with a string
    /// `big_number` a big number, with a table `verbatim_string` of strings `format` and `string` a verbatim string,
    /// with a table `map` a map of its pairs, with a table `set` a set of its keys (whatever `redis.setresp` said; a
    /// RESP2 client gets them as RESP2 writes them); any other table an array of its elements from 1 up to the first
    /// nil; anything else a null.
    func reply(at index: Int32, depth: Int, remaining: inout Int, version: Int) -> RESPValue {
        remaining -= 1
        guard remaining >= 0 else { return .error("ERR the script's reply is too large") }
        switch LuaLibrary.ValueType(rawValue: lua.type(state, index)) {
        case .boolean:
            let value = lua.toboolean(state, index) != 0
            guard version == 3 else { return value ? .integer(1) : .null }
            return .boolean(value)
        case .number:
            return .integer(Self.truncated(lua.tonumber(state, index)))
        case .string:
            return .bulkString(lua.bytes(state, index) ?? [])
        case .table:
            if let error = field("err", of: index) { return .error(String(decoding: error, as: UTF8.self)) }
            if let status = field("ok", of: index) { return .simpleString(String(decoding: status, as: UTF8.self)) }
            guard depth < Self.replyDepthMax, lua.checkstack(state, 6) != 0 else {
                return .error("ERR reached lua stack limit")
            }
            let table = index < 0 ? lua.gettop(state) + index + 1 : index
            if let typed = resp3Reply(of: table, depth: depth, remaining: &remaining, version: version) {
                return typed
            }
            var elements: [RESPValue] = []
            var position: Int32 = 1
            while remaining >= 0 {
                lua.rawgeti(state, table, position)
                defer { lua.pop(state, 1) }
                guard lua.type(state, -1) != LuaLibrary.ValueType.nil.rawValue else { break }
                elements.append(
                    reply(at: lua.gettop(state), depth: depth + 1, remaining: &remaining, version: version))
                guard position < Int32.max else { break }
                position += 1
            }
            guard remaining >= 0 else { return .error("ERR the script's reply is too large") }
            return .array(elements)
        default:
            return .null
        }
    }

    /// The RESP3 type a table at `table` (an absolute index) stands for by its field `double`, `big_number`,
    /// `verbatim_string`, `map` or `set`, checked in that order as Redis checks them; nil when it has none of them.
    private func resp3Reply(of table: Int32, depth: Int, remaining: inout Int, version: Int) -> RESPValue? {
        if let number = rawField("double", of: table, ofType: .number, { lua.tonumber(state, -1) }) {
            return .double(number)
        }
        if let digits = rawField("big_number", of: table, ofType: .string, { lua.bytes(state, -1) ?? [] }) {
            // As Redis writes it: a line break inside would end the reply early.
            let line = digits.map { $0 == 13 || $0 == 10 ? 32 : $0 }
            return .bigNumber(String(decoding: line, as: UTF8.self))
        }
        lua.push(state, Array("verbatim_string".utf8))
        lua.rawget(state, table)
        defer { lua.pop(state, 1) }
        let verbatim = lua.gettop(state)
        let string = { self.lua.bytes(self.state, -1) ?? [] }
        if lua.type(state, verbatim) == LuaLibrary.ValueType.table.rawValue,
            let format = rawField("format", of: verbatim, ofType: .string, string),
            let text = rawField("string", of: verbatim, ofType: .string, string)
        {
            return .verbatimString(format: String(decoding: format.prefix(3), as: UTF8.self), text: text)
        }
        for kind in ["map", "set"] {
            lua.push(state, Array(kind.utf8))
            lua.rawget(state, table)
            defer { lua.pop(state, 1) }
            let inner = lua.gettop(state)
            guard lua.type(state, inner) == LuaLibrary.ValueType.table.rawValue else { continue }
            var entries: [RESPValue.MapEntry] = []
            var members: [RESPValue] = []
            lua.pushnil(state)
            while remaining >= 0, lua.next(state, inner) != 0 {
                // Stack: inner, key, value. The key stays for the next step; the value goes.
                let key = reply(at: inner + 1, depth: depth + 1, remaining: &remaining, version: version)
                if kind == "map" {
                    let value = reply(at: inner + 2, depth: depth + 1, remaining: &remaining, version: version)
                    entries.append(RESPValue.MapEntry(key, value))
                } else {
                    members.append(key)
                }
                lua.pop(state, 1)
            }
            guard remaining >= 0 else {
                // The iteration stopped with its key on the stack.
                lua.settop(state, inner)
                return .error("ERR the script's reply is too large")
            }
            return kind == "map" ? .map(entries) : .set(members)
        }
        return nil
    }

    /// The field `name` of the table at `index`, read raw, through `read` when it has the type `type`.
    private func rawField<Value>(
        _ name: String, of index: Int32, ofType type: LuaLibrary.ValueType, _ read: () -> Value
    ) -> Value? {
        lua.push(state, Array(name.utf8))
        lua.rawget(state, index)
        defer { lua.pop(state, 1) }
        return lua.type(state, -1) == type.rawValue ? read() : nil
    }

    /// C's conversion of a double to long long as Redis relies on it on x86-64: toward zero, and the lowest integer
    /// for NaN and anything out of range.
    static func truncated(_ number: Double) -> Int64 {
        guard number.isFinite, number >= -9.223_372_036_854_775_808e18, number < 9.223_372_036_854_775_808e18 else {
            return .min
        }
        return Int64(number)
    }

    // MARK: RESP to Lua

    /// Redis's conversion of a command's reply for redis.call. In RESP2 (the default): an integer a number, a bulk
    /// string a string, a null false, an array a table, a status a table {ok = text}, an error a table
    /// {err = text}, and the RESP3 types as RESP2 writes them. After `redis.setresp(3)`: a null nil, a boolean a
    /// boolean, a double {double = number}, a big number {big_number = digits}, a verbatim string
    /// {verbatim_string = {format = ..., string = ...}}, a map {map = {key = value, ...}}, a set
    /// {set = {member = true, ...}}.
    private func push(_ reply: RESPValue, depth: Int, version: Int) {
        switch (reply, version) {
        case (.integer(let value), _): lua.pushnumber(state, Double(value))
        case (.bulkString(let bytes), _): lua.push(state, bytes)
        case (.simpleString(let text), _): pushField("ok", text)
        case (.error(let text), _): pushField("err", text)
        case (.array(let elements), _), (.push(let elements), _): pushTable(elements, depth: depth, version: version)
        case (.null, 3), (.nullArray, 3): lua.pushnil(state)
        case (.null, _), (.nullArray, _): lua.pushboolean(state, 0)
        case (.boolean(let value), 3): lua.pushboolean(state, value ? 1 : 0)
        case (.boolean(let value), _): lua.pushnumber(state, value ? 1 : 0)
        case (.double(let value), 3): pushWrapped("double") { lua.pushnumber(state, value) }
        case (.double(let value), _): lua.push(state, Array(RESPValue.format(value).utf8))
        case (.bigNumber(let digits), 3): pushWrapped("big_number") { lua.push(state, Array(digits.utf8)) }
        case (.bigNumber(let digits), _): lua.push(state, Array(digits.utf8))
        case (.verbatimString(let format, let text), 3):
            pushWrapped("verbatim_string") {
                lua.createtable(state, 0, 2)
                for (name, bytes) in [("format", Array(format.utf8)), ("string", text)] {
                    lua.push(state, Array(name.utf8))
                    lua.push(state, bytes)
                    lua.rawset(state, -3)
                }
            }
        case (.verbatimString(_, let text), _): lua.push(state, text)
        case (.map(let entries), 3):
            pushWrapped("map") { pushKeyed(entries.map { ($0.key, $0.value) }, depth: depth, version: version) }
        case (.set(let members), 3):
            pushWrapped("set") { pushKeyed(members.map { ($0, .boolean(true)) }, depth: depth, version: version) }
        case (.pairs(let entries), 3):
            pushTable(entries.map { .array([$0.key, $0.value]) }, depth: depth, version: version)
        case (.set(let elements), _): pushTable(elements, depth: depth, version: version)
        case (.map(let entries), _), (.pairs(let entries), _):
            pushTable(entries.flatMap { [$0.key, $0.value] }, depth: depth, version: version)
        }
    }

    /// A table with the one field `name`, whose value `pushValue` pushes.
    private func pushWrapped(_ name: String, _ pushValue: () -> Void) {
        lua.createtable(state, 0, 1)
        lua.push(state, Array(name.utf8))
        pushValue()
        lua.rawset(state, -3)
    }

    /// A table of `pairs`. A pair whose key is nil in Lua (a null) cannot be stored, and is left out.
    private func pushKeyed(_ pairs: [(key: RESPValue, value: RESPValue)], depth: Int, version: Int) {
        lua.createtable(state, 0, Int32(clamping: pairs.count))
        for (key, value) in pairs {
            push(key, depth: depth + 1, version: version)
            guard lua.type(state, -1) != LuaLibrary.ValueType.nil.rawValue else {
                lua.pop(state, 1)
                continue
            }
            push(value, depth: depth + 1, version: version)
            lua.rawset(state, -3)
        }
    }

    private func pushField(_ name: String, _ text: String) {
        lua.createtable(state, 0, 1)
        lua.push(state, Array(name.utf8))
        lua.push(state, Array(text.utf8))
        lua.rawset(state, -3)
    }

    private func pushTable(_ elements: [RESPValue], depth: Int, version: Int) {
        lua.createtable(state, Int32(clamping: elements.count), 0)
        for (index, element) in elements.enumerated() {
            push(element, depth: depth + 1, version: version)
            lua.rawseti(state, -2, Int32(clamping: index + 1))
        }
    }

    /// Levels of Lua tables a reply becomes: the stack needs three slots per level while it is pushed (a table, a
    /// key, a value). In RESP3 a map, set or verbatim string is a table inside a table.
    private static func nesting(_ reply: RESPValue, version: Int) -> Int {
        let wrapped = version == 3 ? 1 : 0
        switch reply {
        case .array(let elements), .push(let elements):
            return 1 + (elements.map { nesting($0, version: version) }.max() ?? 0)
        case .set(let elements):
            return 1 + wrapped + (elements.map { nesting($0, version: version) }.max() ?? 0)
        case .map(let entries), .pairs(let entries):
            let inner = entries.map { max(nesting($0.key, version: version), nesting($0.value, version: version)) }
            return 1 + wrapped + (inner.max() ?? 0)
        case .double, .bigNumber: return wrapped
        case .verbatimString: return 2 * wrapped
        default: return 0
        }
    }

    /// Roughly the memory a reply takes as Lua values.
    private static func footprint(_ reply: RESPValue) -> Int {
        switch reply {
        case .bulkString(let bytes), .verbatimString(_, let bytes): 32 + bytes.count
        case .simpleString(let text), .error(let text), .bigNumber(let text): 96 + text.utf8.count
        case .array(let elements), .set(let elements), .push(let elements):
            64 + elements.reduce(0) { $0 + 16 + footprint($1) }
        case .map(let entries): 64 + entries.reduce(0) { $0 + 32 + footprint($1.key) + footprint($1.value) }
        default: 16
        }
    }

    // MARK: The C functions Lua calls

    private static func engine(of state: LuaLibrary.State?) -> LuaScriptEngine? {
        guard case .success(let lua) = LuaLibrary.shared else { return nil }
        lua.rawgeti(state, LuaLibrary.registryIndex, engineKey)
        defer { lua.pop(state, 1) }
        guard let pointer = lua.touserdata(state, -1) else { return nil }
        return Unmanaged<LuaScriptEngine>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// redis.call and redis.pcall: answers (reply, failed) and never raises (see the type's comment).
    private static let bridgeCall: LuaLibrary.CFunction = { state in
        engine(of: state)?.answerCall() ?? 0
    }

    private func answerCall() -> Int32 {
        memory.refusing = false
        defer { memory.refusing = true }
        // The prelude passes the protocol the script asked for first (redis.setresp), then the script's arguments.
        let version = Int(lua.tonumber(state, 1))
        let count = lua.gettop(state)
        var reply: RESPValue
        if count < 2 {
            reply = .error("ERR Please specify at least one argument for this redis lib call")
        } else if let arguments = commandArguments(2...count), let call {
            reply = call(arguments)
            if memory.bytes + Self.footprint(reply) > memory.limit {
                reply = .error("ERR the reply of redis.call does not fit in the script's memory")
            }
        } else {
            reply = .error("ERR Lua redis lib command arguments must be strings or integers")
        }
        guard lua.checkstack(state, Int32(clamping: 3 * Self.nesting(reply, version: version) + 6)) != 0 else {
            lua.settop(state, 0)
            pushField("err", "ERR reached lua stack limit")
            lua.pushboolean(state, 1)
            return 2
        }
        lua.settop(state, 0)
        push(reply, depth: 0, version: version)
        if case .error = reply { lua.pushboolean(state, 1) } else { lua.pushboolean(state, 0) }
        return 2
    }

    /// The arguments of a redis.call: strings as they are, numbers as Redis prints them (%.17g); nil when one is
    /// neither.
    private func commandArguments(_ indices: ClosedRange<Int32>) -> [[UInt8]]? {
        var arguments: [[UInt8]] = []
        for index in indices {
            switch LuaLibrary.ValueType(rawValue: lua.type(state, index)) {
            case .string: arguments.append(lua.bytes(state, index) ?? [])
            case .number: arguments.append(Array(Self.formatted(lua.tonumber(state, index)).utf8))
            default: return nil
            }
        }
        return arguments
    }

    static func formatted(_ number: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let length = withVaList([number]) { vsnprintf(&buffer, buffer.count, "%.17g", $0) }
        return String(decoding: buffer.prefix(Int(max(0, length))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The budget hook's question, every `checkInterval` instructions: nothing, or why the script must stop.
    private static let bridgeBudget: LuaLibrary.CFunction = { state in
        engine(of: state)?.answerBudget() ?? 0
    }

    private func answerBudget() -> Int32 {
        instructions += limits.checkInterval
        let stop: String
        if interrupt.isRequested {
            stop = Self.killedMessage
        } else if instructions >= limits.instructionsMax {
            stop = "ERR Script killed: it ran past its budget of \(limits.instructionsMax) Lua instructions"
        } else {
            return 0
        }
        stopped = true
        memory.refusing = false
        defer { memory.refusing = true }
        lua.push(state, Array(stop.utf8))
        return 1
    }

    private static let bridgeSHA1: LuaLibrary.CFunction = { state in
        engine(of: state)?.answerSHA1() ?? 0
    }

    private func answerSHA1() -> Int32 {
        memory.refusing = false
        defer { memory.refusing = true }
        lua.push(state, Array(SHA1.hex(lua.bytes(state, 1) ?? []).utf8))
        return 1
    }

    /// Lua's allocator: realloc and free, counting bytes, and refusing growth past the limit while Lua code runs.
    private static let allocate: LuaLibrary.Allocator = { userData, pointer, oldSize, newSize in
        guard let userData else { return nil }
        let memory = Unmanaged<Memory>.fromOpaque(userData).takeUnretainedValue()
        let held = pointer == nil ? 0 : oldSize
        if newSize == 0 {
            free(pointer)
            memory.bytes -= held
            return nil
        }
        if newSize > held, memory.refusing, memory.bytes + newSize - held > memory.limit { return nil }
        guard let resized = realloc(pointer, newSize) else { return nil }
        memory.bytes += newSize - held
        return resized
    }
}

/// A script that could not be compiled or run, with the reply Redis gives.
public struct LuaScriptError: Error, Sendable {
    public let message: String
    public var reply: RESPValue { .error(message) }
}
