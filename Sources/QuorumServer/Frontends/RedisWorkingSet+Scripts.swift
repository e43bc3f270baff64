import QuorumWire

/// redis.call and redis.pcall inside a script: the same commands, run by the same `run` as everywhere else in the port,
/// so every command the working set knows is callable from Lua. Refused as Redis refuses them, plus one rule of
/// Quorum's: a script reaches only the keys it declared in KEYS, which are all the working set holds.
extension RedisWorkingSet {
    mutating func runFromScript(_ call: [[UInt8]], declared: Set<[UInt8]>, readOnly: Bool) -> RESPValue {
        guard let name = call.first else {
            return .error("ERR Please specify at least one argument for this redis lib call")
        }
        let command = RedisCommand(name: String(decoding: name, as: UTF8.self), arguments: Array(call.dropFirst()))
        guard let kind = RedisCommandTable.lookup(command.name)?.kind else {
            return .error("ERR Unknown Redis command called from script")
        }
        switch kind {
        case .read, .readWrite: break
        case .keyspace, .flush:
            return .error(
                "ERR \(command.name) is not supported in scripts by Quorum: a script reaches only the keys it declares")
        case .pubSub where command.name == "PUBLISH":
            break
        case .connection, .script, .pubSub:
            return .error("ERR This Redis command is not allowed from script")
        }
        guard RedisCommandTable.arityHolds(command) else {
            return .error("ERR Wrong number of args calling Redis command from script")
        }
        if command.name == "PUBLISH" {
            // Delivered once the script's writes apply, so its count of subscribers is not known yet: 0.
            publish(Publication(channel: command.arguments[0], message: command.arguments[1]))
            return .integer(0)
        }
        if readOnly, kind == .readWrite {
            return .error("ERR Write commands are not allowed from read-only scripts.")
        }
        guard RedisCommandTable.keys(of: command).allSatisfy(declared.contains) else {
            return .error(
                "ERR Script attempted to access a non local key in a cluster node (Quorum: declare every key a script"
                    + " touches in KEYS)")
        }
        return run(command)
    }
}
