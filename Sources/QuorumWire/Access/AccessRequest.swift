import QuorumCodec

/// Authentication and the management of users and roles, as a `.access` client request carries it:
///
///     kind u8 | body
///     1 authenticate: user (string) | password (string)      answered `.authenticated` with a token
///     2 authenticate with token: token (string)                answered `.authenticated`
///     3 summary: nothing                                       the rest are answered `.summary`, after the change
///     4 enable / 5 disable: nothing
///     6 add user: name | password          7 delete user: name          8 change password: name | password
///     9 grant role: user | role            10 revoke role: user | role
///     11 add role: name                    12 delete role: name
///     13 grant permission: role | KeyPermission                 14 revoke permission: role | prefix (bytes)
public enum AccessRequest: Hashable, Sendable {
    case authenticate(user: String, password: String)
    case authenticateWithToken(String)
    case summary
    case enable
    case disable
    case addUser(String, password: String)
    case deleteUser(String)
    case changePassword(user: String, password: String)
    case grantRole(user: String, role: String)
    case revokeRole(user: String, role: String)
    case addRole(String)
    case deleteRole(String)
    case grantPermission(role: String, KeyPermission)
    case revokePermission(role: String, prefix: [UInt8])

    /// Whether only a root user may ask it once authentication is on (everything but authenticating).
    public var needsRoot: Bool {
        switch self {
        case .authenticate, .authenticateWithToken: false
        default: true
        }
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .authenticate(let user, let password):
            writer.write(UInt8(1))
            writer.writeString(user)
            writer.writeString(password)
        case .authenticateWithToken(let token):
            writer.write(UInt8(2))
            writer.writeString(token)
        case .summary: writer.write(UInt8(3))
        case .enable: writer.write(UInt8(4))
        case .disable: writer.write(UInt8(5))
        case .addUser(let name, let password):
            writer.write(UInt8(6))
            writer.writeString(name)
            writer.writeString(password)
        case .deleteUser(let name):
            writer.write(UInt8(7))
            writer.writeString(name)
        case .changePassword(let user, let password):
            writer.write(UInt8(8))
            writer.writeString(user)
            writer.writeString(password)
        case .grantRole(let user, let role):
            writer.write(UInt8(9))
            writer.writeString(user)
            writer.writeString(role)
        case .revokeRole(let user, let role):
            writer.write(UInt8(10))
            writer.writeString(user)
            writer.writeString(role)
        case .addRole(let name):
            writer.write(UInt8(11))
            writer.writeString(name)
        case .deleteRole(let name):
            writer.write(UInt8(12))
            writer.writeString(name)
        case .grantPermission(let role, let permission):
            writer.write(UInt8(13))
            writer.writeString(role)
            writer.write(permission)
        case .revokePermission(let role, let prefix):
            writer.write(UInt8(14))
            writer.writeString(role)
            writer.writeLengthPrefixed(prefix)
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> AccessRequest {
        switch try reader.readByte("access request kind") {
        case 1: return .authenticate(user: try reader.readString("user"), password: try reader.readString("password"))
        case 2: return .authenticateWithToken(try reader.readString("token"))
        case 3: return .summary
        case 4: return .enable
        case 5: return .disable
        case 6: return .addUser(try reader.readString("user"), password: try reader.readString("password"))
        case 7: return .deleteUser(try reader.readString("user"))
        case 8:
            return .changePassword(user: try reader.readString("user"), password: try reader.readString("password"))
        case 9: return .grantRole(user: try reader.readString("user"), role: try reader.readString("role"))
        case 10: return .revokeRole(user: try reader.readString("user"), role: try reader.readString("role"))
        case 11: return .addRole(try reader.readString("role"))
        case 12: return .deleteRole(try reader.readString("role"))
        case 13: return .grantPermission(role: try reader.readString("role"), try reader.readKeyPermission())
        case 14:
            return .revokePermission(
                role: try reader.readString("role"), prefix: try reader.readLengthPrefixed("prefix"))
        case let other: throw .invalid(field: "access request kind", value: UInt64(other))
        }
    }
}

/// What an `.access` request is answered with.
public enum AccessAnswer: Hashable, Sendable {
    /// The connection now acts as `user`; `token` authenticates later connections (or HTTP requests) to the same
    /// node until it expires.
    case authenticated(user: String, token: String)
    case summary(AccessSummary)
}

/// Users, their roles and the roles' grants, without password hashes: what `quorum user list` and `role list` show.
public struct AccessSummary: Hashable, Sendable {
    public var enabled: Bool
    public var users: [String: [String]]
    public var roles: [String: [KeyPermission]]

    public init(enabled: Bool, users: [String: [String]], roles: [String: [KeyPermission]]) {
        self.enabled = enabled
        self.users = users
        self.roles = roles
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(UInt8(enabled ? 1 : 0))
        writer.write(UInt32(users.count))
        for (name, roles) in users.sorted(by: { $0.key < $1.key }) {
            writer.writeString(name)
            writer.write(UInt32(roles.count))
            for role in roles { writer.writeString(role) }
        }
        writer.write(UInt32(roles.count))
        for (name, permissions) in roles.sorted(by: { $0.key < $1.key }) {
            writer.writeString(name)
            writer.write(UInt32(permissions.count))
            for permission in permissions { writer.write(permission) }
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> AccessSummary {
        let enabled = try reader.readBool("enabled")
        var users: [String: [String]] = [:]
        for _ in 0..<(try reader.readCount("user count", minimumItemBytes: 8)) {
            let name = try reader.readString("user")
            var roles: [String] = []
            for _ in 0..<(try reader.readCount("role count", minimumItemBytes: 4)) {
                roles.append(try reader.readString("role"))
            }
            users[name] = roles
        }
        var roles: [String: [KeyPermission]] = [:]
        for _ in 0..<(try reader.readCount("role count", minimumItemBytes: 8)) {
            let name = try reader.readString("role")
            var permissions: [KeyPermission] = []
            for _ in 0..<(try reader.readCount("permission count", minimumItemBytes: 5)) {
                permissions.append(try reader.readKeyPermission())
            }
            roles[name] = permissions
        }
        return AccessSummary(enabled: enabled, users: users, roles: roles)
    }
}
