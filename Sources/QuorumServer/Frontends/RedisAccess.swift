import QuorumWire

/// The cluster's users and permissions (`AccessPolicy`) on the Redis port, in the words of Redis 7.0's ACLs. With
/// authentication off, the port is a Redis whose only user is `default` without a password. With it on, a
/// connection authenticates with `AUTH user password` or `HELLO ... AUTH user password` (`AUTH password` is user
/// `default`, as in Redis), and each command is checked against its keys: a read needs read, anything that may write
/// needs read and write (Redis's commands read what they write). Commands over the whole keyspace (KEYS, SCAN,
/// DBSIZE, FLUSHDB, ...) are root's alone, since a prefix grant cannot cover them; so are SCRIPT FLUSH and KILL.
/// Channels are open to every authenticated user.
enum RedisAccess {
    static let noAuthentication = RESPValue.error("NOAUTH Authentication required.")
    static let helloWithoutAuthentication = RESPValue.error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> "
            + "option can be used to authenticate the client and select the RESP protocol version at the same time")
    static let wrongPassword = RESPValue.error("WRONGPASS invalid username-password pair or user is disabled.")
    static let catchingUp = RESPValue.error(
        "LOADING Quorum is catching up with the cluster's users and roles (after a restart or a join); retry")
    static let keyDenied = RESPValue.error(
        "NOPERM this user has no permissions to access one of the keys used as arguments")

    /// What an unauthenticated connection may still send.
    static let allowedBeforeAuthentication: Set<String> = ["AUTH", "HELLO", "QUIT", "RESET"]

    /// Redis's refusal of `command` from `user` (nil: not authenticated), or nil when it may run.
    static func refusal(of command: RedisCommand, by user: String?, policy: AccessPolicy) -> RESPValue? {
        guard policy.enabled else { return nil }
        guard let user else {
            guard allowedBeforeAuthentication.contains(command.name) else { return noAuthentication }
            return command.name == "HELLO" && credentials(in: command) == nil ? helloWithoutAuthentication : nil
        }
        guard policy.users[user] != nil else { return noAuthentication }
        if policy.isRoot(user) { return nil }
        let needed: KeyPermission.Access
        switch RedisCommandTable.lookup(command.name)?.kind {
        case .read?: needed = .read
        case .readWrite?: needed = .readWrite
        case .script? where command.name == "SCRIPT":
            guard ["LOAD", "EXISTS"].contains(command.option(0)) else { return commandDenied(command) }
            return nil
        case .script?:
            guard case .success(let invocation) = RedisScripting.invocation(of: command) else { return nil }
            let access: KeyPermission.Access = command.name.hasSuffix("_RO") ? .read : .readWrite
            return invocation.keys.allSatisfy { policy.allows(user, access, key: $0) } ? nil : keyDenied
        case .keyspace?, .flush?:
            return commandDenied(command)
        case .connection? where command.name == "WATCH":
            needed = .read
        case .connection?, .pubSub?, nil:
            return command.name == "ACL" && command.option(0) != "WHOAMI" ? commandDenied(command) : nil
        }
        let keys = RedisCommandTable.keys(of: command)
        return keys.allSatisfy { policy.allows(user, needed, key: $0) } ? nil : keyDenied
    }

    private static func commandDenied(_ command: RedisCommand) -> RESPValue {
        .error("NOPERM this user has no permissions to run the '\(command.displayName)' command")
    }

    /// ACL WHOAMI, USERS and LIST (the rest of ACL is managed with `quorum user` and `quorum role`).
    static func acl(_ command: RedisCommand, user: String?, policy: AccessPolicy) -> RESPValue {
        switch command.option(0) {
        case "WHOAMI":
            return .bulkString(Array((user ?? "default").utf8))
        case "USERS":
            return .array(names(policy).map { .bulkString(Array($0.utf8)) })
        case "LIST":
            return .array(names(policy).map { .bulkString(Array(line(of: $0, policy).utf8)) })
        default:
            return .error(
                "ERR unknown subcommand '\(command.argument(0))'. Quorum answers ACL WHOAMI, USERS and LIST; manage users "
                    + "with `quorum user` and `quorum role`")
        }
    }

    private static func names(_ policy: AccessPolicy) -> [String] {
        policy.enabled ? policy.users.keys.sorted() : ["default"]
    }

    /// A user as Redis's ACL LIST spells one: its key patterns (`%R~` read only, `%W~` write only), no password hash
    /// (Quorum's are bcrypt, which Redis's `#<sha256>` cannot show).
    private static func line(of user: String, _ policy: AccessPolicy) -> String {
        guard policy.enabled else { return "user default on nopass ~* &* +@all" }
        if policy.isRoot(user) { return "user \(user) on ~* &* +@all" }
        let grants = (policy.users[user]?.roles ?? []).flatMap { policy.roles[$0]?.permissions ?? [] }
        let patterns = grants.map { grant in
            let marker: String
            switch grant.access {
            case .read: marker = "%R"
            case .write: marker = "%W"
            case .readWrite: marker = ""
            }
            return "\(marker)~\(String(decoding: grant.prefix, as: UTF8.self))*"
        }
        return (["user", user, "on"] + patterns + ["&*", "+@all"]).joined(separator: " ")
    }
}

extension RedisAccess {
    /// The user and password an `AUTH` or `HELLO ... AUTH` carries (`AUTH password` is user `default`).
    static func credentials(in command: RedisCommand) -> (user: String, password: String)? {
        let text = { (bytes: [UInt8]) in String(decoding: bytes, as: UTF8.self) }
        let arguments = command.arguments
        switch command.name {
        case "AUTH" where arguments.count == 1: return ("default", text(arguments[0]))
        case "AUTH" where arguments.count == 2: return (text(arguments[0]), text(arguments[1]))
        case "HELLO":
            guard let index = authIndex(in: command) else { return nil }
            return (text(arguments[index + 1]), text(arguments[index + 2]))
        default: return nil
        }
    }

    /// `HELLO` without its `AUTH user password`, once the port has checked them itself.
    static func withoutCredentials(_ hello: RedisCommand) -> RedisCommand {
        var arguments = hello.arguments
        if let index = authIndex(in: hello) { arguments.removeSubrange(index...(index + 2)) }
        return RedisCommand(name: hello.name, arguments: arguments)
    }

    /// Where `AUTH user password` starts among a HELLO's arguments, when all three are there.
    private static func authIndex(in hello: RedisCommand) -> Int? {
        guard let index = hello.arguments.firstIndex(where: { $0.uppercased() == Array("AUTH".utf8) }),
            index + 2 < hello.arguments.count
        else { return nil }
        return index
    }
}

extension [UInt8] {
    fileprivate func uppercased() -> [UInt8] { map { $0 >= 0x61 && $0 <= 0x7a ? $0 - 0x20 : $0 } }
}
