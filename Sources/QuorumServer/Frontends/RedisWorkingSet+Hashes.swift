import QuorumWire

/// The hash commands (`RedisHash`), as pure functions of the working set.
extension RedisWorkingSet {
    /// Answers a hash command; nil when `command` is not one.
    mutating func runHash(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue? {
        let arguments = command.arguments
        let key = arguments[0]
        switch command.name {
        case "HSET", "HMSET":
            guard arguments.count % 2 == 1 else { throw RedisReplyError(command.arityError) }
            var hash = try hash(key) ?? RedisHash()
            var added: Int64 = 0
            for index in stride(from: 1, to: arguments.count, by: 2) where hash.set(arguments[index], arguments[index + 1]) {
                added += 1
            }
            try store(key, hash.typedValue)
            return command.name == "HSET" ? .integer(added) : .ok
        case "HSETNX":
            var hash = try hash(key) ?? RedisHash()
            guard hash.value(of: arguments[1]) == nil else { return .integer(0) }
            hash.set(arguments[1], arguments[2])
            try store(key, hash.typedValue)
            return .integer(1)
        case "HGET":
            return try hash(key)?.value(of: arguments[1]).map { .bulkString($0) } ?? .null
        case "HMGET":
            let hash = try hash(key)
            return .array(arguments.dropFirst().map { field in hash?.value(of: field).map { .bulkString($0) } ?? .null })
        case "HGETALL":
            let hash = try hash(key) ?? RedisHash()
            return .map(zip(hash.fields, hash.values).map { .init(.bulkString($0), .bulkString($1)) })
        case "HKEYS":
            return .array((try hash(key)?.fields ?? []).map { .bulkString($0) })
        case "HVALS":
            return .array((try hash(key)?.values ?? []).map { .bulkString($0) })
        case "HLEN":
            return .integer(Int64(try hash(key)?.count ?? 0))
        case "HEXISTS":
            return .integer(try hash(key)?.value(of: arguments[1]) == nil ? 0 : 1)
        case "HSTRLEN":
            return .integer(Int64(try hash(key)?.value(of: arguments[1])?.count ?? 0))
        case "HDEL":
            guard var hash = try hash(key) else { return .integer(0) }
            let removed = arguments.dropFirst().filter { hash.remove($0) }.count
            if removed > 0 { try store(key, hash.typedValue) }
            return .integer(Int64(removed))
        case "HINCRBY":
            let delta = try Self.integerArgument(arguments[2])
            var hash = try hash(key) ?? RedisHash()
            var current: Int64 = 0
            if let stored = hash.value(of: arguments[1]) {
                guard let value = Self.integer(stored) else { throw RedisReplyError("ERR hash value is not an integer") }
                current = value
            }
            let (sum, overflow) = current.addingReportingOverflow(delta)
            guard !overflow else { throw RedisReplyError("ERR increment or decrement would overflow") }
            hash.set(arguments[1], Array(String(sum).utf8))
            try store(key, hash.typedValue)
            return .integer(sum)
        case "HSCAN":
            return try hashScan(command)
        default:
            return nil
        }
    }

    private func hash(_ key: [UInt8]) throws(RedisReplyError) -> RedisHash? {
        try decoded(key, .hash) { value throws(RedisTypedValueError) in try RedisHash(value) }
    }

    /// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]: the whole hash in one page, next cursor 0, as Redis
    /// answers for a hash small enough to be kept compact (and every hash here is one value of the store).
    private func hashScan(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue {
        guard UInt64(command.argument(1)) != nil else { throw RedisReplyError("ERR invalid cursor") }
        var glob: RedisGlob?
        var withValues = true
        var index = 2
        while index < command.arguments.count {
            switch command.option(index) {
            case "NOVALUES":
                withValues = false
                index += 1
                continue
            case "MATCH" where index + 1 < command.arguments.count:
                glob = RedisGlob(command.arguments[index + 1])
            case "COUNT" where index + 1 < command.arguments.count:
                guard let count = Self.integer(command.arguments[index + 1]) else { throw RedisReplyError(.notInteger) }
                guard count >= 1 else { throw RedisReplyError(.syntaxError) }
            default:
                throw RedisReplyError(.syntaxError)
            }
            index += 2
        }
        // Any cursor reads the whole hash again, as Redis does for a compact hash.
        let hash = try self.hash(command.arguments[0]) ?? RedisHash()
        var page: [RESPValue] = []
        for (field, value) in zip(hash.fields, hash.values) where glob?.matches(field) ?? true {
            page.append(.bulkString(field))
            if withValues { page.append(.bulkString(value)) }
        }
        return .array([.bulkString("0"), .array(page)])
    }
}
