import QuorumWire

/// The sorted set commands (`RedisSortedSet`), as pure functions of the working set.
extension RedisWorkingSet {
    /// Answers a sorted set command; nil when `command` is not one.
    mutating func runSortedSet(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue? {
        let arguments = command.arguments
        let key = arguments[0]
        switch command.name {
        case "ZADD":
            return try add(command)
        case "ZINCRBY":
            guard let delta = RedisSortedSet.score(arguments[1]) else { throw RedisReplyError(.notFloat) }
            var sortedSet = try sortedSet(key) ?? RedisSortedSet()
            // A new member takes the increment itself, so its reply may be -0, as Redis's is (it is stored as 0).
            let current = sortedSet.score(of: arguments[2])
            let score = current == nil ? delta : try Self.sum(current ?? 0, delta)
            sortedSet.set(arguments[2], score)
            try store(key, sortedSet.typedValue)
            return .double(score)
        case "ZSCORE":
            return try sortedSet(key)?.score(of: arguments[1]).map { .double($0) } ?? .null
        case "ZCARD":
            return .integer(Int64(try sortedSet(key)?.count ?? 0))
        case "ZREM":
            guard var sortedSet = try sortedSet(key) else { return .integer(0) }
            let removed = arguments.dropFirst().filter { sortedSet.remove($0) }.count
            if removed > 0 { try store(key, sortedSet.typedValue) }
            return .integer(Int64(removed))
        case "ZRANK", "ZREVRANK":
            guard let sortedSet = try sortedSet(key),
                let position = sortedSet.entries.firstIndex(where: { $0.member == arguments[1] })
            else { return .null }
            return .integer(Int64(command.name == "ZRANK" ? position : sortedSet.count - 1 - position))
        case "ZCOUNT", "ZREMRANGEBYSCORE":
            guard let min = RedisSortedSet.ScoreBound(arguments[1]), let max = RedisSortedSet.ScoreBound(arguments[2])
            else { throw RedisReplyError("ERR min or max is not a float") }
            guard var sortedSet = try sortedSet(key) else { return .integer(0) }
            let positions = sortedSet.positions(scoresFrom: min, to: max)
            if command.name == "ZREMRANGEBYSCORE", !positions.isEmpty {
                sortedSet.remove(at: positions)
                try store(key, sortedSet.typedValue)
            }
            return .integer(Int64(positions.count))
        case "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX":
            return try range(command)
        default:
            return nil
        }
    }

    private func sortedSet(_ key: [UInt8]) throws(RedisReplyError) -> RedisSortedSet? {
        try decoded(key, .sortedSet) { value throws(RedisTypedValueError) in try RedisSortedSet(value) }
    }

    private static func sum(_ score: Double, _ delta: Double) throws(RedisReplyError) -> Double {
        let sum = score + delta
        guard !sum.isNaN else { throw RedisReplyError("ERR resulting score is not a number (NaN)") }
        return sum
    }

    /// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
    private mutating func add(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue {
        var flags = Set<String>()
        var index = 1
        while index < command.arguments.count, ["NX", "XX", "GT", "LT", "CH", "INCR"].contains(command.option(index)) {
            flags.insert(command.option(index))
            index += 1
        }
        let pairs = command.arguments[index...]
        guard !pairs.isEmpty, pairs.count % 2 == 0 else { throw RedisReplyError(.syntaxError) }
        let incr = flags.contains("INCR")
        if flags.isSuperset(of: ["NX", "XX"]) {
            throw RedisReplyError("ERR XX and NX options at the same time are not compatible")
        }
        if flags.isSuperset(of: ["GT", "LT"]) || (flags.contains("NX") && !flags.isDisjoint(with: ["GT", "LT"])) {
            throw RedisReplyError("ERR GT, LT, and/or NX options at the same time are not compatible")
        }
        if incr, pairs.count > 2 { throw RedisReplyError("ERR INCR option supports a single increment-element pair") }
        var scores: [(member: [UInt8], score: Double)] = []
        for position in stride(from: pairs.startIndex, to: pairs.endIndex, by: 2) {
            guard let score = RedisSortedSet.score(pairs[position]) else { throw RedisReplyError(.notFloat) }
            scores.append((pairs[position + 1], score))
        }
        let key = command.arguments[0]
        var sortedSet = try sortedSet(key) ?? RedisSortedSet()
        var (added, changed) = (0, 0)
        var incremented: Double?
        for (member, score) in scores {
            guard let current = sortedSet.score(of: member) else {
                guard !flags.contains("XX") else { continue }
                sortedSet.set(member, score)
                added += 1
                incremented = score
                continue
            }
            guard !flags.contains("NX") else { continue }
            let new = incr ? try Self.sum(current, score) : score
            if flags.contains("GT") && new <= current || flags.contains("LT") && new >= current { continue }
            incremented = new
            if new != current {
                sortedSet.set(member, new)
                changed += 1
            }
        }
        // What changes nothing writes nothing, and does not disturb a WATCH, as in Redis.
        if added + changed > 0 { try store(key, sortedSet.typedValue) }
        if incr { return incremented.map { .double($0) } ?? .null }
        return .integer(Int64(flags.contains("CH") ? added + changed : added))
    }

    private enum RangeKind { case rank, score, lex }

    /// ZRANGE key min max [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES], and the older forms
    /// (ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX), which are ZRANGE with fixed options.
    private func range(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue {
        let name = command.name
        var kind: RangeKind = name.hasSuffix("BYSCORE") ? .score : name.hasSuffix("BYLEX") ? .lex : .rank
        var reverse = name.hasPrefix("ZREV")
        var withScores = false
        var limit: (offset: Int64, count: Int64)?
        var index = 3
        while index < command.arguments.count {
            switch command.option(index) {
            case "WITHSCORES" where name != "ZRANGEBYLEX" && name != "ZREVRANGEBYLEX":
                withScores = true
            case "LIMIT" where name != "ZREVRANGE" && index + 2 < command.arguments.count:
                limit = (
                    try Self.integerArgument(command.arguments[index + 1]),
                    try Self.integerArgument(command.arguments[index + 2])
                )
                index += 2
            case "BYSCORE" where name == "ZRANGE": kind = .score
            case "BYLEX" where name == "ZRANGE": kind = .lex
            case "REV" where name == "ZRANGE": reverse = true
            default: throw RedisReplyError(.syntaxError)
            }
            index += 1
        }
        if limit != nil, kind == .rank {
            throw RedisReplyError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        }
        if withScores, kind == .lex {
            throw RedisReplyError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
        }
        // Reversed score and lex ranges name their maximum first.
        var (low, high) = (command.arguments[1], command.arguments[2])
        if reverse, kind != .rank { swap(&low, &high) }
        let sortedSet: () throws(RedisReplyError) -> RedisSortedSet = { () throws(RedisReplyError) in
            try self.sortedSet(command.arguments[0]) ?? RedisSortedSet()
        }
        var selected: [RedisSortedSet.Entry]
        switch kind {
        case .rank:
            let start = try Self.integerArgument(low)
            let stop = try Self.integerArgument(high)
            let entries = try sortedSet().entries
            guard let range = RedisList.clampedRange(start: start, stop: stop, count: entries.count) else {
                return .array([])
            }
            selected = reverse ? range.map { entries[entries.count - 1 - $0] } : Array(entries[range])
        case .score:
            guard let min = RedisSortedSet.ScoreBound(low), let max = RedisSortedSet.ScoreBound(high) else {
                throw RedisReplyError("ERR min or max is not a float")
            }
            let entries = try sortedSet()
            selected = Array(entries.entries[entries.positions(scoresFrom: min, to: max)])
        case .lex:
            guard let min = RedisSortedSet.LexBound(low), let max = RedisSortedSet.LexBound(high) else {
                throw RedisReplyError("ERR min or max not valid string range item")
            }
            let entries = try sortedSet()
            selected = Array(entries.entries[entries.positions(membersFrom: min, to: max, reverse: reverse)])
        }
        if kind != .rank, reverse { selected.reverse() }
        if let limit {
            // Redis's loops: a negative offset skips everything, a negative count takes all the rest.
            guard limit.offset >= 0, limit.offset < Int64(selected.count) else { return .array([]) }
            selected = Array(selected.dropFirst(Int(limit.offset)))
            if limit.count >= 0 { selected = Array(selected.prefix(Int(clamping: limit.count))) }
        }
        guard withScores else { return .array(selected.map { .bulkString($0.member) }) }
        return .pairs(selected.map { .init(.bulkString($0.member), .double($0.score)) })
    }
}

extension RESPValue {
    static let notFloat = RESPValue.error("ERR value is not a valid float")
}
