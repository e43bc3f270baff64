import QuorumWire
import Testing

@testable import QuorumServer

/// The cluster's users and grants on the Redis port (`RedisAccess`), in Redis 7.0's words, without a node.
@Suite("Redis port access rules")
struct RedisAccessTests {
    static let policy = AccessPolicy(
        enabled: true,
        users: [
            "root": AccessUser(passwordHash: "h", roles: ["root"]),
            "alice": AccessUser(passwordHash: "h", roles: ["app", "reader"]),
        ],
        roles: [
            "app": AccessRole(permissions: [KeyPermission(prefix: Array("app:".utf8), access: .readWrite)]),
            "reader": AccessRole(permissions: [KeyPermission(prefix: Array("pub:".utf8), access: .read)]),
        ])

    static func command(_ parts: String...) -> RedisCommand {
        RedisCommand(name: parts[0].uppercased(), arguments: parts.dropFirst().map { Array($0.utf8) })
    }

    static func refusal(_ command: RedisCommand, by user: String? = "alice") -> RESPValue? {
        RedisAccess.refusal(of: command, by: user, policy: policy)
    }

    @Test("before AUTH only AUTH, HELLO with AUTH, QUIT and RESET run")
    func beforeAuthentication() {
        #expect(Self.refusal(Self.command("GET", "app:1"), by: nil) == RedisAccess.noAuthentication)
        #expect(Self.refusal(Self.command("PING"), by: nil) == RedisAccess.noAuthentication)
        #expect(Self.refusal(Self.command("AUTH", "alice", "pw"), by: nil) == nil)
        #expect(Self.refusal(Self.command("HELLO", "3", "AUTH", "alice", "pw"), by: nil) == nil)
        #expect(Self.refusal(Self.command("HELLO", "3"), by: nil) == RedisAccess.helloWithoutAuthentication)
        #expect(RedisAccess.credentials(in: Self.command("AUTH", "pw"))! == ("default", "pw"))
        #expect(
            RedisAccess.withoutCredentials(Self.command("HELLO", "3", "auth", "a", "b", "SETNAME", "n"))
                == Self.command("HELLO", "3", "SETNAME", "n"))
    }

    @Test("reads need read, anything that may write needs read and write, on every key")
    func keys() {
        #expect(Self.refusal(Self.command("GET", "pub:1")) == nil)
        #expect(Self.refusal(Self.command("SET", "pub:1", "x")) == RedisAccess.keyDenied)
        #expect(Self.refusal(Self.command("MSET", "app:1", "x", "other", "y")) == RedisAccess.keyDenied)
        #expect(Self.refusal(Self.command("MSET", "app:1", "x", "app:2", "y")) == nil)
        #expect(Self.refusal(Self.command("WATCH", "pub:1")) == nil)
        #expect(Self.refusal(Self.command("WATCH", "secret")) == RedisAccess.keyDenied)
        #expect(Self.refusal(Self.command("SET", "other", "x"), by: "root") == nil)
    }

    @Test("scripts need their declared keys; keyspace commands and SCRIPT FLUSH are root's")
    func scriptsAndKeyspace() {
        #expect(Self.refusal(Self.command("EVAL", "return 1", "1", "app:1")) == nil)
        #expect(Self.refusal(Self.command("EVAL", "return 1", "1", "pub:1")) == RedisAccess.keyDenied)
        #expect(Self.refusal(Self.command("EVAL_RO", "return 1", "1", "pub:1")) == nil)
        #expect(Self.refusal(Self.command("SCRIPT", "LOAD", "return 1")) == nil)
        #expect(
            Self.refusal(Self.command("SCRIPT", "FLUSH"))
                == .error("NOPERM this user has no permissions to run the 'script' command"))
        #expect(
            Self.refusal(Self.command("FLUSHDB"))
                == .error("NOPERM this user has no permissions to run the 'flushdb' command"))
        #expect(Self.refusal(Self.command("SCAN", "0")) != nil)
        #expect(Self.refusal(Self.command("ACL", "LIST")) != nil)
        #expect(Self.refusal(Self.command("ACL", "WHOAMI")) == nil)
    }

    @Test("ACL LIST spells grants as Redis key patterns")
    func aclList() {
        let list = RedisAccess.acl(Self.command("ACL", "LIST"), user: "root", policy: Self.policy)
        #expect(
            list
                == .array([
                    .bulkString(Array("user alice on ~app:* %R~pub:* &* +@all".utf8)),
                    .bulkString(Array("user root on ~* &* +@all".utf8)),
                ]))
        let off = RedisAccess.acl(Self.command("ACL", "LIST"), user: nil, policy: AccessPolicy())
        #expect(off == .array([.bulkString(Array("user default on nopass ~* &* +@all".utf8))]))
    }
}
