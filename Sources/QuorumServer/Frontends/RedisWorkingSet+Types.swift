import QuorumWire

/// Reading and writing the typed values (`RedisTypedValue`) of a working set, and the commands common to every type.
extension RedisWorkingSet {
    /// The value under `key` as `kind`: nil when absent; WRONGTYPE when the key holds another type (a string
    /// included), an error when the stored value is corrupt.
    func typed(_ key: [UInt8], _ kind: RedisTypedValue.Kind) throws(RedisReplyError) -> RedisTypedValue? {
        guard let entry = entry(key) else { return nil }
        if let typed = entry.typed {
            guard typed.kind == kind else { throw .wrongType }
            return typed
        }
        let value = entry.value
        guard RedisTypedValue.isTyped(value) else { throw .wrongType }
        let typed = try Self.decode(value)
        guard typed.kind == kind else { throw .wrongType }
        return typed
    }

    /// The value under `key` as `kind`, made into its type by `make`; nil when absent.
    func decoded<Value>(
        _ key: [UInt8], _ kind: RedisTypedValue.Kind, _ make: (RedisTypedValue) throws(RedisTypedValueError) -> Value
    ) throws(RedisReplyError) -> Value? {
        guard let typed = try typed(key, kind) else { return nil }
        do {
            return try make(typed)
        } catch {
            throw .corrupt(error)
        }
    }

    /// The string under `key`: nil when absent, WRONGTYPE when it holds a hash, set, sorted set or list.
    func string(_ key: [UInt8]) throws(RedisReplyError) -> [UInt8]? {
        guard let entry = entry(key) else { return nil }
        guard entry.typed == nil else { throw .wrongType }
        let value = entry.value
        guard !RedisTypedValue.isTyped(value) else { throw .wrongType }
        return value
    }

    /// TYPE's answer for the value under `key`.
    func typeName(_ key: [UInt8]) throws(RedisReplyError) -> String {
        guard let value = entry(key)?.value else { return "none" }
        guard RedisTypedValue.isTyped(value) else { return "string" }
        let typed = try Self.decode(value)
        // Checked as fully as the type's own commands check it, so that TYPE never names a value they refuse.
        do {
            switch typed.kind {
            case .hash: _ = try RedisHash(typed)
            case .set: _ = try RedisSet(typed)
            case .sortedSet: _ = try RedisSortedSet(typed)
            case .list: break
            }
        } catch {
            throw .corrupt(error)
        }
        return typed.kind.name
    }

    /// OBJECT ENCODING's answer, as Redis 7.0 with its default thresholds would encode the value now: a string is
    /// `int`, `embstr` (up to 44 bytes) or `raw`; a list `quicklist`; a hash or sorted set `listpack` while it has at
    /// most 128 entries of at most 64 bytes, else `hashtable` or `skiplist`; a set `intset` while it holds at most 512
    /// integers, else `hashtable`. Redis never converts back when a collection shrinks, nor a string to `raw` on
    /// APPEND here: those two cases differ. nil for a missing key.
    func objectEncoding(_ key: [UInt8]) throws(RedisReplyError) -> String? {
        guard let value = entry(key)?.value else { return nil }
        guard RedisTypedValue.isTyped(value) else {
            return Self.integer(value) != nil ? "int" : (value.count <= 44 ? "embstr" : "raw")
        }
        _ = try typeName(key)
        let typed = try Self.decode(value)
        let small = { (entries: [[UInt8]]) in entries.count <= 128 && entries.allSatisfy { $0.count <= 64 } }
        switch typed.kind {
        case .list: return "quicklist"
        case .hash: return small(typed.elements) ? "listpack" : "hashtable"
        case .sortedSet:
            let members = stride(from: 0, to: typed.elements.count, by: 2).map { typed.elements[$0] }
            return small(members) ? "listpack" : "skiplist"
        case .set:
            let integers = typed.elements.count <= 512 && typed.elements.allSatisfy { Self.integer($0) != nil }
            return integers ? "intset" : "hashtable"
        }
    }

    /// Stores `value` under `key`, keeping the key's TTL; an empty collection deletes the key, as in Redis. Refuses
    /// (writing nothing) a value over the store's limit.
    mutating func store(_ key: [UInt8], _ value: RedisTypedValue) throws(RedisReplyError) {
        if !value.elements.isEmpty { try checkSize(of: value.kind, bytes: value.encodedCount) }
        replace(key, with: value)
    }

    /// Refuses a hash, set, sorted set or list that would encode to more than one value may hold.
    func checkSize(of kind: RedisTypedValue.Kind, bytes: Int) throws(RedisReplyError) {
        guard bytes <= valueBytesMax else {
            throw RedisReplyError(
                "ERR the \(kind.name) would take \(bytes) bytes, over the store's limit of \(valueBytesMax) bytes"
                    + " for one value; nothing was written")
        }
    }

    /// Writes `value` under `key`, keeping the key's lease; an empty one deletes the key, as in Redis.
    mutating func replace(_ key: [UInt8], with value: RedisTypedValue) {
        guard !value.elements.isEmpty else {
            if entry(key) != nil { set(key, nil) }
            return
        }
        let current = entry(key)
        set(key, Entry(typed: value, lease: current?.lease, deadline: current?.deadline))
    }

    /// A string to store through the port: refused when it starts with the typed-value marker, which would make it
    /// read back as a hash, set, sorted set or list.
    static func checkedString(_ value: [UInt8]) throws(RedisReplyError) -> [UInt8] {
        guard !RedisTypedValue.isTyped(value) else {
            throw RedisReplyError(
                "ERR Quorum reserves values that start with the bytes 00 C1 51 for hashes, sets, sorted sets and lists")
        }
        return value
    }

    private static func decode(_ value: [UInt8]) throws(RedisReplyError) -> RedisTypedValue {
        do {
            return try RedisTypedValue(decoding: value)
        } catch {
            throw .corrupt(error)
        }
    }

    /// Runs `body`, answering its thrown reply as the command's reply.
    static func replying(_ body: () throws(RedisReplyError) -> RESPValue) -> RESPValue {
        do {
            return try body()
        } catch {
            return error.reply
        }
    }

    /// Redis's strict integer argument, or its error.
    static func integerArgument(_ bytes: [UInt8]) throws(RedisReplyError) -> Int64 {
        guard let value = integer(bytes) else { throw RedisReplyError(.notInteger) }
        return value
    }
}

extension RedisReplyError {
    static let wrongType = RedisReplyError("WRONGTYPE Operation against a key holding the wrong kind of value")

    static func corrupt(_ error: RedisTypedValueError) -> RedisReplyError {
        RedisReplyError("ERR the value stored at this key is not a valid hash, set, sorted set or list: \(error)")
    }
}
