/// The Lua code that builds a script's world once per engine, run before any script with the engine's C functions as
/// its arguments. It returns the function that runs one script. What a script sees is Redis 7's sandbox:
///
/// - only the base, table, string and math libraries (no os, io, loadfile, dofile, require, module, package, debug,
///   getfenv, setfenv, newproxy, print), and no coroutines: the instruction budget's hook belongs to one Lua thread;
/// - globals, and the string, table, math and redis tables, are read-only ("Attempt to modify a readonly table"), and
///   reading a global that does not exist is an error, as in Redis 7; every script sees the same clean world;
/// - math.random is a generator seeded alike before every run, so a script gives the same answer when it runs again
///   (Quorum reruns a script whose keys changed under it);
/// - redis.call and redis.pcall go through one C function, `call`, which never raises a Lua error itself: it answers
///   the reply and whether it is an error, and redis.call raises it here, in Lua. So no Lua error (a longjmp) ever
///   passes through a Swift frame;
/// - the instruction budget: every `interval` instructions a hook asks `budget` whether the script must stop (killed
///   with SCRIPT KILL, or past its budget), and raises the error here, in Lua, at every instruction from then on, so
///   that a script's own pcall cannot swallow it for good.
enum LuaPrelude {
    static let chunkName = "=quorum prelude"

    static let source = #"""
        local call, budget, sha1hex, interval, debug = ...
        local error, type, tostring, select, rawget, rawset, setmetatable, xpcall, floor =
            error, type, tostring, select, rawget, rawset, setmetatable, xpcall, math.floor
        local sethook, getinfo = debug.sethook, debug.getinfo
        local prelude = "=quorum prelude"

        local readonly = setmetatable({}, {__mode = "k"})
        local function refuse() error("Attempt to modify a readonly table", 2) end
        local function protect(t)
            local proxy = setmetatable({}, {__index = t, __newindex = refuse, __metatable = false})
            readonly[proxy] = true
            return proxy
        end

        local redis = {}
        local function raise(reply) error(reply, 0) end
        -- The protocol the script's redis.call replies come in, and its return value is read in (redis.setresp).
        local resp = 2
        redis.call = function(...)
            local reply, failed = call(resp, ...)
            if failed then raise(reply) end
            return reply
        end
        redis.pcall = function(...) return (call(resp, ...)) end
        redis.error_reply = function(message)
            if type(message) ~= "string" then return {err = "ERR wrong number or type of arguments"} end
            if message:sub(1, 1) == "-" then message = message:sub(2) end
            return {err = message}
        end
        redis.status_reply = function(message)
            if type(message) ~= "string" then return {err = "ERR wrong number or type of arguments"} end
            return {ok = message}
        end
        redis.sha1hex = function(...)
            if select("#", ...) ~= 1 then raise({err = "ERR wrong number of arguments"}) end
            return sha1hex(tostring((...)))
        end
        redis.log = function() end
        redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
        redis.replicate_commands = function() return true end
        redis.set_repl = function() end
        redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
        redis.setresp = function(...)
            if select("#", ...) ~= 1 then raise({err = "ERR redis.setresp() requires one argument."}) end
            local version = tonumber((...)) or 0
            version = version < 0 and -floor(-version) or floor(version)
            if version ~= 2 and version ~= 3 then raise({err = "ERR RESP version must be 2 or 3."}) end
            resp = version
        end

        -- A Park-Miller generator: exact in doubles, and seeded alike before every run.
        local seed = 1
        local function random(m, n)
            seed = (seed * 16807) % 2147483647
            local r = (seed - 1) / 2147483646
            if m == nil then return r end
            if n == nil then m, n = 1, m end
            if m > n then error("bad argument #1 to 'random' (interval is empty)", 2) end
            return m + floor(r * (n - m + 1))
        end
        local function randomseed(value) seed = floor(value or 0) % 2147483646 + 1 end
        local math = {}
        for name, value in pairs(_G.math) do math[name] = value end
        math.random, math.randomseed = random, randomseed

        local function rawsetChecked(t, k, v)
            if readonly[t] then raise({err = "ERR Attempt to modify a readonly table"}) end
            return rawset(t, k, v)
        end

        -- Lua 5.1 loads precompiled bytecode without checking it, which a script could use to break out: only
        -- source text is compiled.
        local loadstringAny = loadstring
        local function loadText(chunk, name)
            if type(chunk) == "string" and chunk:byte(1) == 27 then return nil, "bytecode loading is not allowed" end
            return loadstringAny(chunk, name)
        end
        local function loadReader(reader, name)
            if type(reader) == "string" then return loadText(reader, name) end
            local parts = {}
            while true do
                local part = reader()
                if part == nil or part == "" then break end
                parts[#parts + 1] = part
            end
            return loadText(table.concat(parts), name)
        end

        -- xpcall's handler would run while the error unwinds, when Lua runs no hooks, so a handler that loops would
        -- escape the budget: the script's handler runs once pcall has returned instead.
        local pcall, unpack = pcall, unpack
        local function xpcallAfter(f, onError)
            local results = {n = 0}
            local function collect(...) results = {n = select("#", ...), ...} end
            collect(pcall(f))
            if results[1] then return unpack(results, 1, results.n) end
            return false, onError(results[2])
        end

        local visible = {}
        for _, name in ipairs({"assert", "collectgarbage", "error", "gcinfo", "getmetatable", "ipairs", "next",
            "pairs", "pcall", "rawequal", "rawget", "select", "setmetatable", "tonumber", "tostring", "type", "unpack",
            "_VERSION"}) do
            visible[name] = _G[name]
        end
        visible.rawset, visible.loadstring, visible.load, visible.xpcall = rawsetChecked, loadText, loadReader, xpcallAfter
        visible.string, visible.table, visible.math, visible.redis =
            protect(string), protect(table), protect(math), protect(redis)
        getmetatable("").__metatable = false

        local env = setmetatable({}, {
            __index = function(_, name)
                local value = visible[name]
                if value == nil then
                    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
                end
                return value
            end,
            __newindex = refuse,
            __metatable = false,
        })
        readonly[env] = true
        visible._G = env

        local function hook()
            local stop = budget()
            if stop and getinfo(2, "S").source ~= prelude then
                sethook(hook, "", 1)
                error({err = stop}, 0)
            end
        end

        -- Where a script failed: the innermost line of the script itself, as Redis reports it. It runs while the error
        -- unwinds, when Lua runs no hooks: so it runs none of the script's code (no __tostring), which could loop.
        local function handler(failure)
            if type(failure) ~= "table" or type(rawget(failure, "err")) ~= "string" then
                local kind = type(failure)
                local text = (kind == "string" or kind == "number") and failure or "(error object is a " .. kind .. " value)"
                failure = {err = "ERR " .. text}
            end
            for level = 2, 50 do
                local info = getinfo(level, "Sl")
                if info == nil then break end
                if info.source == "@user_script" then
                    failure = {err = failure.err, line = info.currentline}
                    break
                end
            end
            return failure
        end

        -- Scripts and the C functions made from here on see only `env`: load and loadstring compile into it too.
        setfenv(0, env)

        return function(script, keys, argv)
            rawset(visible, "KEYS", keys)
            rawset(visible, "ARGV", argv)
            seed = 1
            resp = 2
            sethook(hook, "", interval)
            local ok, result = xpcall(script, handler)
            sethook()
            return ok, result, resp
        end
        """#
}
