import QuorumStore
import QuorumWire

/// The string and key commands, as pure functions of the working set: each answers as Redis would and records
/// its writes. Argument counts are checked before (`RedisCommandTable`); option errors are answered here.
extension RedisWorkingSet {

    mutating func run(_ command: RedisCommand) -> RESPValue {
        let arguments = command.arguments
        switch command.name {
        case "GET":
            return Self.replying { () throws(RedisReplyError) in
                try string(arguments[0]).map { .bulkString($0) } ?? .null
            }
        case "MGET":
            // A key holding another type reads as nil here, as in Redis.
            return .array(arguments.map { key in (try? string(key)).flatMap { $0 }.map { .bulkString($0) } ?? .null })
        case "STRLEN":
            return Self.replying { () throws(RedisReplyError) in .integer(Int64(try string(arguments[0])?.count ?? 0)) }
        case "TYPE":
            return Self.replying { () throws(RedisReplyError) in .simpleString(try typeName(arguments[0])) }
        case "OBJECT":
            return Self.replying { () throws(RedisReplyError) in try runObject(command) }
        case "EXISTS":
            return .integer(Int64(arguments.filter { entry($0) != nil }.count))
        case "SET":
            return Self.replying { () throws(RedisReplyError) in try runStringSet(command) }
        case "GETSET":
            return Self.replying { () throws(RedisReplyError) in
                try runStringSet(RedisCommand(name: "SET", arguments: arguments + [Array("GET".utf8)]))
            }
        case "SETNX":
            guard entry(arguments[0]) == nil else { return .integer(0) }
            return Self.replying { () throws(RedisReplyError) in
                set(arguments[0], Entry(value: try Self.checkedString(arguments[1]), lease: nil, deadline: nil))
                return .integer(1)
            }
        case "MSET":
            guard arguments.count % 2 == 0 else { return command.arityError }
            return Self.replying { () throws(RedisReplyError) in
                for index in stride(from: 1, to: arguments.count, by: 2) {
                    _ = try Self.checkedString(arguments[index])
                }
                for index in stride(from: 0, to: arguments.count, by: 2) {
                    set(arguments[index], Entry(value: arguments[index + 1], lease: nil, deadline: nil))
                }
                return .ok
            }
        case "DEL", "UNLINK":
            var deleted: Int64 = 0
            for key in Set(arguments) where entry(key) != nil {
                set(key, nil)
                deleted += 1
            }
            return .integer(deleted)
        case "DELIFEQ":
            return Self.replying { () throws(RedisReplyError) in
                guard try string(arguments[0]) == arguments[1] else { return .integer(0) }
                set(arguments[0], nil)
                return .integer(1)
            }
        case "INCR", "DECR", "INCRBY", "DECRBY":
            return Self.replying { () throws(RedisReplyError) in try runIncrement(command) }
        case "APPEND":
            return Self.replying { () throws(RedisReplyError) in
                var updated = entry(arguments[0]) ?? Entry(value: [], lease: nil, deadline: nil)
                updated.value = try Self.checkedString((try string(arguments[0]) ?? []) + arguments[1])
                set(arguments[0], updated)
                return .integer(Int64(updated.value.count))
            }
        case "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT":
            return Self.replying { () throws(RedisReplyError) in try runExpire(command) }
        case "KEYS":
            let glob = RedisGlob(arguments[0])
            return .array(liveKeys.filter(glob.matches).map { .bulkString($0) })
        case "DBSIZE":
            return .integer(Int64(liveKeys.count))
        case "SCAN":
            return runScan(command)
        case "FLUSHDB", "FLUSHALL":
            guard arguments.count <= 1,
                arguments.allSatisfy({ ["ASYNC", "SYNC"].contains(String(decoding: $0, as: UTF8.self).uppercased()) })
            else { return .syntaxError }
            flush()
            return .ok
        case "TTL", "PTTL":
            guard let current = entry(arguments[0]) else { return .integer(-2) }
            guard let deadline = current.deadline else { return .integer(-1) }
            let remaining = deadline.milliseconds > now.milliseconds ? deadline.milliseconds - now.milliseconds : 0
            let clamped = Int64(clamping: remaining)
            return .integer(command.name == "PTTL" ? clamped : (clamped + 500) / 1000)
        case "PERSIST":
            guard var current = entry(arguments[0]), current.lease != nil else { return .integer(0) }
            current.lease = nil
            current.deadline = nil
            set(arguments[0], current)
            return .integer(1)
        default:
            return Self.replying { () throws(RedisReplyError) in
                if let reply = try runHash(command) { return reply }
                if let reply = try runSortedSet(command) { return reply }
                if let reply = try runSet(command) { return reply }
                return try runList(command) ?? command.unknownError
            }
        }
    }

    /// SCAN inside MULTI: the whole keyspace in one page (cursor 0), filtered by MATCH; TYPE only for strings.
    private func runScan(_ command: RedisCommand) -> RESPValue {
        guard command.argument(0) == "0" else { return .error("ERR invalid cursor") }
        var glob: RedisGlob?
        var index = 1
        while index + 1 < command.arguments.count {
            switch command.option(index) {
            case "MATCH": glob = RedisGlob(command.arguments[index + 1])
            case "COUNT": guard Self.integer(command.arguments[index + 1]) != nil else { return .notInteger }
            default: return .error("ERR SCAN inside MULTI takes MATCH and COUNT only on Quorum")
            }
            index += 2
        }
        guard index == command.arguments.count else { return .syntaxError }
        let keys = liveKeys.filter { glob?.matches($0) ?? true }
        return .array([.bulkString("0"), .array(keys.map { .bulkString($0) })])
    }

    /// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]
    private mutating func runStringSet(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue {
        let key = command.arguments[0]
        var condition: String?
        var returnsOld = false
        var expiry: (option: String, amount: Int64)?
        var keepTTL = false
        var index = 2
        while index < command.arguments.count {
            let option = command.option(index)
            switch option {
            case "NX", "XX":
                guard condition == nil || condition == option else { return .syntaxError }
                condition = option
            case "GET":
                returnsOld = true
            case "KEEPTTL":
                guard expiry == nil else { return .syntaxError }
                keepTTL = true
            case "EX", "PX", "EXAT", "PXAT":
                guard expiry == nil, !keepTTL, index + 1 < command.arguments.count else { return .syntaxError }
                guard let amount = Int64(command.argument(index + 1)) else { return .notInteger }
                guard amount > 0 else { return .error("ERR invalid expire time in 'set' command") }
                expiry = (option, amount)
                index += 1
            default:
                return .syntaxError
            }
            index += 1
        }
        let value = try Self.checkedString(command.arguments[1])
        let current = entry(key)
        // SET overwrites a key of any type, but SET ... GET must read a string first.
        let old: RESPValue = returnsOld ? try string(key).map { .bulkString($0) } ?? .null : .null
        if condition == "NX", current != nil { return returnsOld ? old : .null }
        if condition == "XX", current == nil { return returnsOld ? old : .null }
        if let expiry {
            guard let ttl = ttl(expiry.option, expiry.amount) else {
                // A deadline already passed: Redis stores nothing and the key is gone.
                if current != nil { set(key, nil) }
                return returnsOld ? old : .ok
            }
            set(key, Entry(value: value, lease: grant(ttl)))
        } else if keepTTL, let current {
            set(key, Entry(value: value, lease: current.lease, deadline: current.deadline))
        } else {
            set(key, Entry(value: value, lease: nil, deadline: nil))
        }
        return returnsOld ? old : .ok
    }

    /// How long from `now` until the deadline an expiry option names; nil when that is not in the future.
    private func ttl(_ option: String, _ amount: Int64) -> LeaseTTL? {
        let milliseconds: Int64
        switch option {
        case "EX", "EXPIRE": milliseconds = amount.multipliedReportingOverflow(by: 1000).overflow ? .max : amount * 1000
        case "PX", "PEXPIRE": milliseconds = amount
        case "EXAT", "EXPIREAT":
            let at = amount.multipliedReportingOverflow(by: 1000).overflow ? Int64.max : amount * 1000
            milliseconds = at.subtractingReportingOverflow(Int64(clamping: now.milliseconds)).partialValue
        default:
            milliseconds = amount.subtractingReportingOverflow(Int64(clamping: now.milliseconds)).partialValue
        }
        guard milliseconds > 0 else { return nil }
        return LeaseTTL(milliseconds: UInt64(milliseconds))
    }

    private mutating func runIncrement(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue {
        let key = command.arguments[0]
        var delta: Int64 = command.name.hasPrefix("DECR") ? -1 : 1
        if command.name.hasSuffix("BY") {
            guard let amount = Self.integer(command.arguments[1]) else { return .notInteger }
            if command.name == "DECRBY" {
                guard amount != .min else { return .error("ERR decrement would overflow") }
                delta = -amount
            } else {
                delta = amount
            }
        }
        var updated = entry(key) ?? Entry(value: Array("0".utf8), lease: nil, deadline: nil)
        guard let value = Self.integer(try string(key) ?? updated.value) else { return .notInteger }
        let (sum, overflow) = value.addingReportingOverflow(delta)
        guard !overflow else { return .error("ERR increment or decrement would overflow") }
        updated.value = Array(String(sum).utf8)
        set(key, updated)
        return .integer(sum)
    }

    /// EXPIRE key seconds [NX | XX | GT | LT] (and PEXPIRE, EXPIREAT, PEXPIREAT): 1 if the key exists and the
    /// condition holds, 0 if not. A deadline already passed deletes the key, as in Redis. A key without a TTL counts
    /// as never expiring for GT and LT.
    private mutating func runExpire(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue {
        var conditions = Set<String>()
        for index in 2..<command.arguments.count {
            let option = command.option(index)
            guard ["NX", "XX", "GT", "LT"].contains(option) else {
                throw RedisReplyError("ERR Unsupported option \(command.argument(index))")
            }
            conditions.insert(option)
        }
        if conditions.contains("NX"), conditions.count > 1 {
            throw RedisReplyError("ERR NX and XX, GT or LT options at the same time are not compatible")
        }
        if conditions.isSuperset(of: ["GT", "LT"]) {
            throw RedisReplyError("ERR GT and LT options at the same time are not compatible")
        }
        guard let amount = Int64(command.argument(1)) else { return .notInteger }
        let key = command.arguments[0]
        guard var current = entry(key) else { return .integer(0) }
        let ttl = ttl(command.name, amount)
        if !conditions.isEmpty {
            // A deadline is the leader's clock when the grant applied plus the TTL, a few milliseconds after the
            // instant the command named: EXPIRE and EXPIREAT compare whole seconds, so that EXPIREAT t LT after
            // EXPIREAT t finds them equal, as Redis does.
            let unit: UInt64 = command.name.hasPrefix("P") ? 1 : 1000
            let newDeadline = (ttl.map { now.adding($0).milliseconds } ?? 0) / unit
            let deadline = current.deadline.map { $0.milliseconds / unit }
            if conditions.contains("NX"), deadline != nil { return .integer(0) }
            if conditions.contains("XX"), deadline == nil { return .integer(0) }
            if conditions.contains("GT"), deadline.map({ newDeadline <= $0 }) ?? true { return .integer(0) }
            if conditions.contains("LT"), let deadline, newDeadline >= deadline { return .integer(0) }
        }
        guard let ttl else {
            set(key, nil)
            return .integer(1)
        }
        let lease = grant(ttl)
        current.lease = lease.id
        current.deadline = lease.deadline
        set(key, current)
        return .integer(1)
    }

    /// OBJECT ENCODING, REFCOUNT, IDLETIME, FREQ and HELP, of a key this node reads (`objectEncoding`).
    private func runObject(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue {
        let arguments = command.arguments
        let subcommand = command.option(0)
        if subcommand == "HELP" {
            return .array(
                [
                    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "ENCODING <key>", "FREQ <key>",
                    "IDLETIME <key>", "REFCOUNT <key>", "HELP",
                ].map { .simpleString($0) })
        }
        guard ["ENCODING", "REFCOUNT", "IDLETIME", "FREQ"].contains(subcommand) else {
            throw RedisReplyError("ERR unknown subcommand '\(command.argument(0))'. Try OBJECT HELP.")
        }
        guard arguments.count == 2 else {
            throw RedisReplyError("ERR wrong number of arguments for 'object|\(subcommand.lowercased())' command")
        }
        guard let encoding = try objectEncoding(arguments[1]) else { return .null }
        switch subcommand {
        case "ENCODING": return .bulkString(Array(encoding.utf8))
        // Quorum shares no objects between keys and keeps no access times or counts.
        case "REFCOUNT": return .integer(1)
        case "IDLETIME": return .integer(0)
        default:
            throw RedisReplyError(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
            )
        }
    }

    /// Redis's strict integer syntax: optional '-', digits, no leading zeros or '+', within Int64.
    static func integer(_ bytes: [UInt8]) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 20, bytes.first != UInt8(ascii: "+") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let value = Int64(text), String(value) == text else { return nil }
        return value
    }
}
