import QuorumWire

/// The set commands (`RedisSet`), as pure functions of the working set.
extension RedisWorkingSet {
    /// Answers a set command; nil when `command` is not one.
    mutating func runSet(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue? {
        let arguments = command.arguments
        let key = arguments[0]
        switch command.name {
        case "SADD":
            var set = try set(key) ?? RedisSet()
            let added = arguments.dropFirst().filter { set.insert($0) }.count
            // What changes nothing writes nothing, and does not disturb a WATCH, as in Redis.
            if added > 0 { try store(key, set.typedValue) }
            return .integer(Int64(added))
        case "SREM":
            guard var set = try set(key) else { return .integer(0) }
            let removed = arguments.dropFirst().filter { set.remove($0) }.count
            if removed > 0 { try store(key, set.typedValue) }
            return .integer(Int64(removed))
        case "SMEMBERS":
            return .set((try set(key)?.members ?? []).map { .bulkString($0) })
        case "SISMEMBER":
            return .integer(try set(key)?.contains(arguments[1]) == true ? 1 : 0)
        case "SMISMEMBER":
            let set = try set(key)
            return .array(arguments.dropFirst().map { .integer(set?.contains($0) == true ? 1 : 0) })
        case "SCARD":
            return .integer(Int64(try set(key)?.count ?? 0))
        default:
            return nil
        }
    }

    private func set(_ key: [UInt8]) throws(RedisReplyError) -> RedisSet? {
        try decoded(key, .set) { value throws(RedisTypedValueError) in try RedisSet(value) }
    }
}
