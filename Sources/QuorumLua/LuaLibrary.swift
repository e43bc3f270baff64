#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The system's Lua 5.1 runtime, opened at run time with dlopen so that building Quorum needs no Lua at all: the C API
/// functions the script engine uses, resolved by name. Lua's macros (lua_pop, lua_tostring, lua_newtable, ...) are
/// written out in Swift where they are used.
///
/// Only functions that cannot raise a Lua error (a longjmp) are called from Swift outside a protected call, and the
/// bridge's callbacks call only those too; see `LuaScriptEngine` for why that holds.
public struct LuaLibrary: @unchecked Sendable {
    // @unchecked Sendable: C function pointers into a library that stays loaded for the life of the process.
    typealias State = OpaquePointer
    typealias CFunction = @convention(c) (State?) -> Int32
    typealias Allocator =
        @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int, Int) -> UnsafeMutableRawPointer?

    /// The Debian package that provides the library, for messages.
    public static let package = "liblua5.1-0"

    /// Where the library is looked for, in order: the soname first (the dynamic loader's own search), then the
    /// paths Debian, Ubuntu, Fedora and Homebrew install it at.
    static let candidates = [
        "liblua5.1.so.0", "liblua5.1.so", "liblua-5.1.so", "/usr/lib/x86_64-linux-gnu/liblua5.1.so.0",
        "/usr/lib/aarch64-linux-gnu/liblua5.1.so.0", "/usr/lib64/liblua-5.1.so", "/usr/lib/liblua5.1.so.0",
        "/opt/homebrew/lib/liblua5.1.dylib", "/usr/local/lib/liblua5.1.dylib",
    ]

    // Pseudo-indices and constants of lua.h (5.1).
    static let registryIndex: Int32 = -10000
    static let globalsIndex: Int32 = -10002
    static let multipleResults: Int32 = -1
    enum ValueType: Int32 {
        case none = -1, `nil` = 0, boolean, lightUserdata, number, string, table, function, userdata, thread
    }
    enum Status: Int32 { case ok = 0, yield, runtime, syntax, memory, errorHandler }
    static let collectGarbage: Int32 = 2
    static let restartCollector: Int32 = 1

    let newstate: @convention(c) (Allocator?, UnsafeMutableRawPointer?) -> State?
    let close: @convention(c) (State?) -> Void
    let loadbuffer: @convention(c) (State?, UnsafePointer<CChar>?, Int, UnsafePointer<CChar>?) -> Int32
    let pcall: @convention(c) (State?, Int32, Int32, Int32) -> Int32
    let gettop: @convention(c) (State?) -> Int32
    let settop: @convention(c) (State?, Int32) -> Void
    let checkstack: @convention(c) (State?, Int32) -> Int32
    let type: @convention(c) (State?, Int32) -> Int32
    let tolstring: @convention(c) (State?, Int32, UnsafeMutablePointer<Int>?) -> UnsafePointer<CChar>?
    let tonumber: @convention(c) (State?, Int32) -> Double
    let toboolean: @convention(c) (State?, Int32) -> Int32
    let touserdata: @convention(c) (State?, Int32) -> UnsafeMutableRawPointer?
    let pushlstring: @convention(c) (State?, UnsafePointer<CChar>?, Int) -> Void
    let pushnumber: @convention(c) (State?, Double) -> Void
    let pushboolean: @convention(c) (State?, Int32) -> Void
    let pushnil: @convention(c) (State?) -> Void
    let pushlightuserdata: @convention(c) (State?, UnsafeMutableRawPointer?) -> Void
    let pushcclosure: @convention(c) (State?, CFunction?, Int32) -> Void
    let pushvalue: @convention(c) (State?, Int32) -> Void
    let createtable: @convention(c) (State?, Int32, Int32) -> Void
    let rawget: @convention(c) (State?, Int32) -> Void
    let rawset: @convention(c) (State?, Int32) -> Void
    let rawgeti: @convention(c) (State?, Int32, Int32) -> Void
    let rawseti: @convention(c) (State?, Int32, Int32) -> Void
    /// Pops a key and pushes the table's next key and value (raw: no metamethod runs); 0 once there is none.
    let next: @convention(c) (State?, Int32) -> Int32
    let gc: @convention(c) (State?, Int32, Int32) -> Int32
    /// The libraries a script may use (and debug, which only the prelude sees), each a C function to call.
    let openBase: CFunction
    let openTable: CFunction
    let openString: CFunction
    let openMath: CFunction
    let openDebug: CFunction

    /// The library, or why it could not be loaded (a message naming the package to install).
    public static let shared: Result<LuaLibrary, LuaUnavailable> = load(candidates)

    /// Whether scripts can run here.
    public static var isAvailable: Bool {
        if case .success = shared { return true }
        return false
    }

    static func load(_ candidates: [String]) -> Result<LuaLibrary, LuaUnavailable> {
        guard let handle = candidates.lazy.compactMap({ dlopen($0, RTLD_NOW | RTLD_LOCAL) }).first else {
            return .failure(LuaUnavailable(reason: "no Lua 5.1 library found (looked for \(candidates[0]) and others)"))
        }
        var missing: [String] = []
        func symbol<Function>(_ name: String, as _: Function.Type) -> Function? {
            guard let address = dlsym(handle, name) else {
                missing.append(name)
                return nil
            }
            return unsafeBitCast(address, to: Function.self)
        }
        let library = LuaLibrary(
            newstate: symbol(
                "lua_newstate", as: (@convention(c) (Allocator?, UnsafeMutableRawPointer?) -> State?).self),
            close: symbol("lua_close", as: (@convention(c) (State?) -> Void).self),
            loadbuffer: symbol(
                "luaL_loadbuffer",
                as: (@convention(c) (State?, UnsafePointer<CChar>?, Int, UnsafePointer<CChar>?) -> Int32).self),
            pcall: symbol("lua_pcall", as: (@convention(c) (State?, Int32, Int32, Int32) -> Int32).self),
            gettop: symbol("lua_gettop", as: (@convention(c) (State?) -> Int32).self),
            settop: symbol("lua_settop", as: (@convention(c) (State?, Int32) -> Void).self),
            checkstack: symbol("lua_checkstack", as: (@convention(c) (State?, Int32) -> Int32).self),
            type: symbol("lua_type", as: (@convention(c) (State?, Int32) -> Int32).self),
            tolstring: symbol(
                "lua_tolstring",
                as: (@convention(c) (State?, Int32, UnsafeMutablePointer<Int>?) -> UnsafePointer<CChar>?).self),
            tonumber: symbol("lua_tonumber", as: (@convention(c) (State?, Int32) -> Double).self),
            toboolean: symbol("lua_toboolean", as: (@convention(c) (State?, Int32) -> Int32).self),
            touserdata: symbol("lua_touserdata", as: (@convention(c) (State?, Int32) -> UnsafeMutableRawPointer?).self),
            pushlstring: symbol(
                "lua_pushlstring", as: (@convention(c) (State?, UnsafePointer<CChar>?, Int) -> Void).self),
            pushnumber: symbol("lua_pushnumber", as: (@convention(c) (State?, Double) -> Void).self),
            pushboolean: symbol("lua_pushboolean", as: (@convention(c) (State?, Int32) -> Void).self),
            pushnil: symbol("lua_pushnil", as: (@convention(c) (State?) -> Void).self),
            pushlightuserdata: symbol(
                "lua_pushlightuserdata", as: (@convention(c) (State?, UnsafeMutableRawPointer?) -> Void).self),
            pushcclosure: symbol("lua_pushcclosure", as: (@convention(c) (State?, CFunction?, Int32) -> Void).self),
            pushvalue: symbol("lua_pushvalue", as: (@convention(c) (State?, Int32) -> Void).self),
            createtable: symbol("lua_createtable", as: (@convention(c) (State?, Int32, Int32) -> Void).self),
            rawget: symbol("lua_rawget", as: (@convention(c) (State?, Int32) -> Void).self),
            rawset: symbol("lua_rawset", as: (@convention(c) (State?, Int32) -> Void).self),
            rawgeti: symbol("lua_rawgeti", as: (@convention(c) (State?, Int32, Int32) -> Void).self),
            rawseti: symbol("lua_rawseti", as: (@convention(c) (State?, Int32, Int32) -> Void).self),
            next: symbol("lua_next", as: (@convention(c) (State?, Int32) -> Int32).self),
            gc: symbol("lua_gc", as: (@convention(c) (State?, Int32, Int32) -> Int32).self),
            openBase: symbol("luaopen_base", as: CFunction.self),
            openTable: symbol("luaopen_table", as: CFunction.self),
            openString: symbol("luaopen_string", as: CFunction.self),
            openMath: symbol("luaopen_math", as: CFunction.self),
            openDebug: symbol("luaopen_debug", as: CFunction.self))
        guard missing.isEmpty, let library else {
            dlclose(handle)
            return .failure(
                LuaUnavailable(
                    reason: "the Lua library found is not Lua 5.1 (missing \(missing.joined(separator: ", ")))"))
        }
        return .success(library)
    }
}

extension LuaLibrary {
    /// Builds the library from resolved symbols; nil if any is missing.
    fileprivate init?(
        newstate: (@convention(c) (Allocator?, UnsafeMutableRawPointer?) -> State?)?,
        close: (@convention(c) (State?) -> Void)?,
        loadbuffer: (@convention(c) (State?, UnsafePointer<CChar>?, Int, UnsafePointer<CChar>?) -> Int32)?,
        pcall: (@convention(c) (State?, Int32, Int32, Int32) -> Int32)?,
        gettop: (@convention(c) (State?) -> Int32)?,
        settop: (@convention(c) (State?, Int32) -> Void)?,
        checkstack: (@convention(c) (State?, Int32) -> Int32)?,
        type: (@convention(c) (State?, Int32) -> Int32)?,
        tolstring: (@convention(c) (State?, Int32, UnsafeMutablePointer<Int>?) -> UnsafePointer<CChar>?)?,
        tonumber: (@convention(c) (State?, Int32) -> Double)?,
        toboolean: (@convention(c) (State?, Int32) -> Int32)?,
        touserdata: (@convention(c) (State?, Int32) -> UnsafeMutableRawPointer?)?,
        pushlstring: (@convention(c) (State?, UnsafePointer<CChar>?, Int) -> Void)?,
        pushnumber: (@convention(c) (State?, Double) -> Void)?,
        pushboolean: (@convention(c) (State?, Int32) -> Void)?,
        pushnil: (@convention(c) (State?) -> Void)?,
        pushlightuserdata: (@convention(c) (State?, UnsafeMutableRawPointer?) -> Void)?,
        pushcclosure: (@convention(c) (State?, CFunction?, Int32) -> Void)?,
        pushvalue: (@convention(c) (State?, Int32) -> Void)?,
        createtable: (@convention(c) (State?, Int32, Int32) -> Void)?,
        rawget: (@convention(c) (State?, Int32) -> Void)?,
        rawset: (@convention(c) (State?, Int32) -> Void)?,
        rawgeti: (@convention(c) (State?, Int32, Int32) -> Void)?,
        rawseti: (@convention(c) (State?, Int32, Int32) -> Void)?,
        next: (@convention(c) (State?, Int32) -> Int32)?,
        gc: (@convention(c) (State?, Int32, Int32) -> Int32)?,
        openBase: CFunction?, openTable: CFunction?, openString: CFunction?, openMath: CFunction?,
        openDebug: CFunction?
    ) {
        guard let newstate, let close, let loadbuffer, let pcall, let gettop, let settop, let checkstack, let type,
            let tolstring, let tonumber, let toboolean, let touserdata, let pushlstring, let pushnumber,
            let pushboolean, let pushnil, let pushlightuserdata, let pushcclosure, let pushvalue, let createtable,
            let rawget, let rawset, let rawgeti, let rawseti, let next, let gc, let openBase, let openTable,
            let openString, let openMath, let openDebug
        else { return nil }
        self.newstate = newstate
        self.close = close
        self.loadbuffer = loadbuffer
        self.pcall = pcall
        self.gettop = gettop
        self.settop = settop
        self.checkstack = checkstack
        self.type = type
        self.tolstring = tolstring
        self.tonumber = tonumber
        self.toboolean = toboolean
        self.touserdata = touserdata
        self.pushlstring = pushlstring
        self.pushnumber = pushnumber
        self.pushboolean = pushboolean
        self.pushnil = pushnil
        self.pushlightuserdata = pushlightuserdata
        self.pushcclosure = pushcclosure
        self.pushvalue = pushvalue
        self.createtable = createtable
        self.rawget = rawget
        self.rawset = rawset
        self.rawgeti = rawgeti
        self.rawseti = rawseti
        self.next = next
        self.gc = gc
        self.openBase = openBase
        self.openTable = openTable
        self.openString = openString
        self.openMath = openMath
        self.openDebug = openDebug
    }

    // The macros of lua.h the engine needs.
    func pop(_ state: State?, _ count: Int32) { settop(state, -count - 1) }
    func newtable(_ state: State?) { createtable(state, 0, 0) }

    func push(_ state: State?, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return pushlstring(state, "", 0) }
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { pushlstring(state, $0.baseAddress, $0.count) }
        }
    }

    /// The bytes of the string at `index`; nil when it is no string. Never converts a number in place (which
    /// allocates): callers read numbers with `tonumber`.
    func bytes(_ state: State?, _ index: Int32) -> [UInt8]? {
        guard type(state, index) == ValueType.string.rawValue else { return nil }
        var length = 0
        guard let pointer = tolstring(state, index, &length) else { return nil }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }
}

/// Why Lua scripting is unavailable on this machine.
public struct LuaUnavailable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String {
        "Lua scripting needs the \(LuaLibrary.package) package (Lua 5.1), which is not installed on this node: \(reason)."
            + " Install it (apt-get install \(LuaLibrary.package)) and restart the node."
    }
}
