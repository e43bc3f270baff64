import QuorumCodec

/// A user as group 1 stores it under `AccessRecords.userKey(_:)`: a bcrypt hash of the password, never the password,
/// and the names of the user's roles.
public struct AccessUser: Hashable, Sendable {
    public var passwordHash: String
    public var roles: [String]

    public init(passwordHash: String, roles: [String] = []) {
        self.passwordHash = passwordHash
        self.roles = roles
    }

    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 96)
        writer.write(UInt8(1))
        writer.writeString(passwordHash)
        writer.write(UInt32(roles.count))
        for role in roles { writer.writeString(role) }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws(DecodingFailure) {
        var reader = ByteReader(bytes)
        let version = try reader.readByte("user version")
        guard version == 1 else { throw .unsupportedVersion(what: "user", version: version) }
        passwordHash = try reader.readString("password hash")
        let count = try reader.readCount("role count", minimumItemBytes: 4)
        roles = []
        for _ in 0..<count { roles.append(try reader.readString("role")) }
        try reader.expectEnd(of: "user")
    }
}

/// A role as group 1 stores it under `AccessRecords.roleKey(_:)`: its grants, one per prefix.
public struct AccessRole: Hashable, Sendable {
    public var permissions: [KeyPermission]

    public init(permissions: [KeyPermission] = []) { self.permissions = permissions }

    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.write(UInt8(1))
        writer.write(UInt32(permissions.count))
        for permission in permissions { writer.write(permission) }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws(DecodingFailure) {
        var reader = ByteReader(bytes)
        let version = try reader.readByte("role version")
        guard version == 1 else { throw .unsupportedVersion(what: "role", version: version) }
        let count = try reader.readCount("permission count", minimumItemBytes: 5)
        permissions = []
        for _ in 0..<count { permissions.append(try reader.readKeyPermission()) }
        try reader.expectEnd(of: "role")
    }
}

/// Where users, roles and the switch that turns authentication on live: reserved keys of group 1, so that every node
/// and every snapshot has them and they change only through the log.
public enum AccessRecords {
    /// The keys the cluster keeps for itself in its groups (member addresses, the shard map, users and roles): no
    /// client writes them, and only root reads them once authentication is on.
    public static let reservedPrefix: [UInt8] = Array("\u{0}quorum/".utf8)
    public static let prefix: [UInt8] = reservedPrefix + Array("auth/".utf8)
    public static let enabledKey: [UInt8] = prefix + Array("enabled".utf8)
    public static let userPrefix: [UInt8] = prefix + Array("users/".utf8)
    public static let rolePrefix: [UInt8] = prefix + Array("roles/".utf8)

    public static func userKey(_ name: String) -> [UInt8] { userPrefix + Array(name.utf8) }
    public static func roleKey(_ name: String) -> [UInt8] { rolePrefix + Array(name.utf8) }

    /// The role that may do everything: every key, membership, users and roles, shards. Built in, never stored.
    public static let rootRole = "root"
    /// The user that must exist, holding the root role, before authentication can be turned on (as in etcd).
    public static let rootUser = "root"

    /// Why `name` cannot name a user or role, or nil: 1 to 64 letters, digits and `._@-`.
    public static func refusal(ofName name: String, what: String) -> String? {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "@"), UInt8(ascii: "-")].contains(byte)
        }
        guard (1...64).contains(name.utf8.count), allowed else {
            return "\(what) name '\(name)' is not 1 to 64 letters, digits and . _ @ -"
        }
        return nil
    }

    /// bcrypt reads only the first 72 bytes of a password; a longer one would be cut silently, so it is refused.
    public static let passwordBytesMax = 72

    public static func refusal(ofPassword password: String) -> String? {
        guard !password.isEmpty else { return "the password is empty" }
        guard password.utf8.count <= passwordBytesMax else {
            return "the password is longer than \(passwordBytesMax) bytes, which bcrypt would cut short"
        }
        return nil
    }
}
