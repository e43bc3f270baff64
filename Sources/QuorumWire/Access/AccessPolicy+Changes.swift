import QuorumStore

extension AccessPolicy {
    /// Why a change to users or roles was refused, worded for the operator.
    public struct ChangeRefused: Error, Hashable, Sendable {
        public var message: String
        public init(_ message: String) { self.message = message }
    }

    /// The transaction on group 1's reserved keys that makes `request`, a change to users, roles or the switch, as
    /// checked against this policy. Each record it rewrites is compared with the bytes this policy was built from, so
    /// that a change made from a stale copy (another change in between) fails instead of undoing that one.
    /// `passwordHash` is the new password's bcrypt hash, for `addUser` and `changePassword`.
    public func transaction(
        for request: AccessRequest, passwordHash: String?
    ) throws(ChangeRefused) -> TransactionRequest {
        var change = Change()
        switch request {
        case .authenticate, .authenticateWithToken, .summary:
            throw ChangeRefused("not a change to users or roles")
        case .enable:
            guard let root = users[AccessRecords.rootUser], root.roles.contains(AccessRecords.rootRole) else {
                throw ChangeRefused(
                    "add user 'root' and grant it the role 'root' first: without it nobody could manage the cluster")
            }
            change.expect(AccessRecords.userKey(AccessRecords.rootUser), root.encoded)
            change.put(AccessRecords.enabledKey, [1])
        case .disable:
            change.delete(AccessRecords.enabledKey)
        case .addUser(let name, let password):
            try Self.check(name: name, what: "user")
            if let refusal = AccessRecords.refusal(ofPassword: password) { throw ChangeRefused(refusal) }
            guard users[name] == nil else { throw ChangeRefused("user '\(name)' exists already") }
            change.expect(AccessRecords.userKey(name), nil)
            change.put(AccessRecords.userKey(name), AccessUser(passwordHash: try hash(passwordHash)).encoded)
        case .deleteUser(let name):
            let user = try existingUser(name)
            if name == AccessRecords.rootUser, enabled {
                throw ChangeRefused("turn authentication off before deleting 'root'")
            }
            change.expect(AccessRecords.userKey(name), user.encoded)
            change.delete(AccessRecords.userKey(name))
        case .changePassword(let name, let password):
            if let refusal = AccessRecords.refusal(ofPassword: password) { throw ChangeRefused(refusal) }
            var user = try existingUser(name)
            change.expect(AccessRecords.userKey(name), user.encoded)
            user.passwordHash = try hash(passwordHash)
            change.put(AccessRecords.userKey(name), user.encoded)
        case .grantRole(let name, let role):
            var user = try existingUser(name)
            if role != AccessRecords.rootRole {
                change.expect(AccessRecords.roleKey(role), try existingRole(role).encoded)
            }
            change.expect(AccessRecords.userKey(name), user.encoded)
            if !user.roles.contains(role) { user.roles.append(role) }
            change.put(AccessRecords.userKey(name), user.encoded)
        case .revokeRole(let name, let role):
            var user = try existingUser(name)
            guard user.roles.contains(role) else { throw ChangeRefused("user '\(name)' does not have role '\(role)'") }
            if name == AccessRecords.rootUser, role == AccessRecords.rootRole, enabled {
                throw ChangeRefused("turn authentication off before taking 'root' from user 'root'")
            }
            change.expect(AccessRecords.userKey(name), user.encoded)
            user.roles.removeAll { $0 == role }
            change.put(AccessRecords.userKey(name), user.encoded)
        case .addRole(let name):
            try Self.check(name: name, what: "role")
            guard name != AccessRecords.rootRole, roles[name] == nil else {
                throw ChangeRefused("role '\(name)' exists already")
            }
            change.expect(AccessRecords.roleKey(name), nil)
            change.put(AccessRecords.roleKey(name), AccessRole().encoded)
        case .deleteRole(let name):
            let role = try existingRole(name)
            change.expect(AccessRecords.roleKey(name), role.encoded)
            change.delete(AccessRecords.roleKey(name))
            // As etcd does, its users lose it; a role of the same name added later grants them nothing.
            for (userName, var user) in users.sorted(by: { $0.key < $1.key }) where user.roles.contains(name) {
                change.expect(AccessRecords.userKey(userName), user.encoded)
                user.roles.removeAll { $0 == name }
                change.put(AccessRecords.userKey(userName), user.encoded)
            }
        case .grantPermission(let name, let permission):
            var role = try existingRole(name)
            guard permission.prefix.count <= StoreLimits.default.keyBytesMax else {
                throw ChangeRefused("the prefix is longer than a key may be (\(StoreLimits.default.keyBytesMax) bytes)")
            }
            change.expect(AccessRecords.roleKey(name), role.encoded)
            role.permissions.removeAll { $0.prefix == permission.prefix }
            role.permissions.append(permission)
            change.put(AccessRecords.roleKey(name), role.encoded)
        case .revokePermission(let name, let prefix):
            var role = try existingRole(name)
            guard role.permissions.contains(where: { $0.prefix == prefix }) else {
                throw ChangeRefused("role '\(name)' has no permission on '\(String(decoding: prefix, as: UTF8.self))'")
            }
            change.expect(AccessRecords.roleKey(name), role.encoded)
            role.permissions.removeAll { $0.prefix == prefix }
            change.put(AccessRecords.roleKey(name), role.encoded)
        }
        return TransactionRequest(compare: change.compare, success: change.operations)
    }

    private struct Change {
        var compare: [Comparison] = []
        var operations: [TransactionOperation] = []

        /// The record at `key` must still be `value` (nil: absent) when the change applies.
        mutating func expect(_ key: [UInt8], _ value: [UInt8]?) {
            compare.append(
                value.map { Comparison(key: key, .value($0), .equal) } ?? Comparison(key: key, .version(0), .equal))
        }

        mutating func put(_ key: [UInt8], _ value: [UInt8]) {
            operations.append(.put(PutRequest(key: key, value: value)))
        }

        mutating func delete(_ key: [UInt8]) { operations.append(.deleteRange(DeleteRangeRequest(key: key))) }
    }

    private static func check(name: String, what: String) throws(ChangeRefused) {
        if let refusal = AccessRecords.refusal(ofName: name, what: what) { throw ChangeRefused(refusal) }
    }

    private func hash(_ passwordHash: String?) throws(ChangeRefused) -> String {
        guard let passwordHash else { throw ChangeRefused("no password hash was given for the new password") }
        return passwordHash
    }

    private func existingUser(_ name: String) throws(ChangeRefused) -> AccessUser {
        guard let user = users[name] else { throw ChangeRefused("there is no user '\(name)'") }
        return user
    }

    private func existingRole(_ name: String) throws(ChangeRefused) -> AccessRole {
        if name == AccessRecords.rootRole { throw ChangeRefused("role 'root' is built in: it may do everything") }
        guard let role = roles[name] else { throw ChangeRefused("there is no role '\(name)'") }
        return role
    }
}
