import QuorumWire

/// The list commands (`RedisList`), as pure functions of the working set.
extension RedisWorkingSet {
    /// Answers a list command; nil when `command` is not one.
    mutating func runList(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue? {
        let arguments = command.arguments
        let key = arguments[0]
        switch command.name {
        case "LPUSH", "RPUSH", "LPUSHX", "RPUSHX":
            let added = arguments.dropFirst()
            let growth = added.reduce(0) { $0 + 4 + $1.count }
            let length = try changeList(key, creating: !command.name.hasSuffix("X"), growth: growth) { elements in
                if command.name.hasPrefix("L") {
                    elements.insert(contentsOf: added.reversed(), at: 0)
                } else {
                    elements += added
                }
                return elements.count
            }
            return .integer(Int64(length ?? 0))
        case "LPOP", "RPOP":
            guard arguments.count <= 2 else { throw RedisReplyError(.syntaxError) }
            var count: Int64?
            if arguments.count == 2 {
                guard let value = Self.integer(arguments[1]), value >= 0 else {
                    throw RedisReplyError("ERR value is out of range, must be positive")
                }
                count = value
            }
            let fromHead = command.name == "LPOP"
            let popping = try changeList(key) { elements in
                let taken = Int(min(count ?? 1, Int64(elements.count)))
                let popped = fromHead ? Array(elements.prefix(taken)) : Array(elements.suffix(taken).reversed())
                if fromHead { elements.removeFirst(taken) } else { elements.removeLast(taken) }
                return popped
            }
            guard let popped = popping else { return count == nil ? .null : .nullArray }
            guard count != nil else { return popped.first.map { .bulkString($0) } ?? .null }
            return .array(popped.map { .bulkString($0) })
        case "LLEN":
            return .integer(Int64(try list(key)?.elements.count ?? 0))
        case "LRANGE":
            let start = try Self.integerArgument(arguments[1])
            let stop = try Self.integerArgument(arguments[2])
            let elements = try list(key)?.elements ?? []
            guard let range = RedisList.clampedRange(start: start, stop: stop, count: elements.count) else {
                return .array([])
            }
            return .array(elements[range].map { .bulkString($0) })
        case "LINDEX":
            let index = try Self.integerArgument(arguments[1])
            let elements = try list(key)?.elements ?? []
            let position = index < 0 ? Int64(elements.count) + index : index
            guard position >= 0, position < Int64(elements.count) else { return .null }
            return .bulkString(elements[Int(position)])
        case "LREM":
            let count = try Self.integerArgument(arguments[1])
            guard var list = try list(key) else { return .integer(0) }
            let limit = count == 0 ? Int.max : Int(clamping: count.magnitude)
            var positions = list.elements.indices.filter { list.elements[$0] == arguments[2] }
            positions = count < 0 ? Array(positions.suffix(limit)) : Array(positions.prefix(limit))
            for position in positions.reversed() { list.elements.remove(at: position) }
            if !positions.isEmpty { try store(key, list.typedValue) }
            return .integer(Int64(positions.count))
        case "LMOVE":
            return try move(command)
        case "BLPOP", "BRPOP":
            // Here, as inside MULTI, they do not block: the executor waits and runs them again (`blockingPop`).
            _ = try Self.blockingTimeout(arguments[arguments.count - 1])
            for key in arguments.dropLast() {
                guard var list = try list(key), !list.elements.isEmpty else { continue }
                let element = command.name == "BLPOP" ? list.elements.removeFirst() : list.elements.removeLast()
                try store(key, list.typedValue)
                return .array([.bulkString(key), .bulkString(element)])
            }
            return .nullArray
        default:
            return nil
        }
    }

    /// LMOVE source destination LEFT|RIGHT LEFT|RIGHT.
    private mutating func move(_ command: RedisCommand) throws(RedisReplyError) -> RESPValue {
        let ends = [command.option(2), command.option(3)]
        guard ends.allSatisfy({ $0 == "LEFT" || $0 == "RIGHT" }) else { throw RedisReplyError(.syntaxError) }
        let (source, destination) = (command.arguments[0], command.arguments[1])
        guard var from = try list(source) else { return .null }
        // The destination's type is checked before anything moves, as in Redis.
        var to = source == destination ? nil : try list(destination) ?? RedisList()
        let element = ends[0] == "LEFT" ? from.elements.removeFirst() : from.elements.removeLast()
        if to == nil {
            if ends[1] == "LEFT" { from.elements.insert(element, at: 0) } else { from.elements.append(element) }
        } else if ends[1] == "LEFT" {
            to?.elements.insert(element, at: 0)
        } else {
            to?.elements.append(element)
        }
        if let to { try store(destination, to.typedValue) }
        try store(source, from.typedValue)
        return .bulkString(element)
    }

    /// A blocking command's timeout in milliseconds (seconds as a float, as Redis takes them; 0: forever).
    static func blockingTimeout(_ bytes: [UInt8]) throws(RedisReplyError) -> Int64 {
        guard let seconds = Double(String(decoding: bytes, as: UTF8.self)), seconds.isFinite else {
            throw RedisReplyError("ERR timeout is not a float or out of range")
        }
        guard seconds >= 0 else { throw RedisReplyError("ERR timeout is negative") }
        guard seconds < Double(Int64.max / 1000) else { throw RedisReplyError("ERR timeout is out of range") }
        return Int64((seconds * 1000).rounded(.up))
    }

    private func list(_ key: [UInt8]) throws(RedisReplyError) -> RedisList? {
        try decoded(key, .list) { value throws(RedisTypedValueError) in RedisList(value) }
    }
}
