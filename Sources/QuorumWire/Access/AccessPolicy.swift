import QuorumSharding
import QuorumStore

/// Who may do what, decided from the users and roles group 1 stores (etcd's RBAC on key prefixes). Pure: the node
/// keeps one up to date as group 1 applies changes (`AccessBook`), and every front end asks it before a request.
///
/// Decisions, as etcd's: with authentication off, everyone may do everything. With it on, a request needs an
/// authenticated user; the root role may do everything; other roles grant read, write or both on key prefixes, and a
/// range is allowed only when one grant's prefix covers all of it. Membership, shards, compaction, backups, the lease
/// list and users and roles themselves are root's alone.
public struct AccessPolicy: Sendable {
    public var enabled: Bool
    public var users: [String: AccessUser]
    public var roles: [String: AccessRole]

    public init(enabled: Bool = false, users: [String: AccessUser] = [:], roles: [String: AccessRole] = [:]) {
        self.enabled = enabled
        self.users = users
        self.roles = roles
    }

    public static let authenticationRequired =
        "authentication required: this cluster has authentication on (give --user NAME:PASSWORD, or a token)"
    /// How every refusal for want of a permission begins (HTTP answers these 403, and authentication failures 401).
    public static let deniedPrefix = "permission denied: "

    public func isRoot(_ user: String) -> Bool {
        users[user]?.roles.contains(AccessRecords.rootRole) ?? false
    }

    /// Whether `user` may read or write every key of etcd's interval (key, rangeEnd).
    public func allows(
        _ user: String, _ access: KeyPermission.Access, key: [UInt8], rangeEnd: [UInt8]? = nil
    ) -> Bool {
        guard let record = users[user] else { return false }
        if record.roles.contains(AccessRecords.rootRole) { return true }
        // The cluster's own keys (password hashes among them) are root's even under a grant of every key.
        guard !Self.touchesReservedKeys(key: key, rangeEnd: rangeEnd) else { return false }
        return record.roles.contains { name in
            roles[name]?.permissions.contains { $0.access.allows(access) && $0.covers(key: key, rangeEnd: rangeEnd) }
                ?? false
        }
    }

    /// Why `user` (nil: not authenticated) may not make `operation`, or nil when it may. `leaseKeys` names the keys a
    /// lease holds here, which its revocation deletes.
    public func refusal(
        of operation: ClientRequest.Operation, by user: String?, leaseKeys: (LeaseID) -> [[UInt8]]
    ) -> String? {
        guard enabled else { return nil }
        if case .access(let request) = operation, !request.needsRoot { return nil }
        guard let user else { return Self.authenticationRequired }
        guard users[user] != nil else {
            return "authentication required: user '\(user)' no longer exists; authenticate again"
        }
        if isRoot(user) { return nil }
        switch operation {
        case .status, .groups, .shardMap, .cancelWatch:
            return nil
        case .read(let range, _):
            return refusal(user, .read, key: range.key, rangeEnd: range.rangeEnd)
        case .watch(let key, let rangeEnd, _):
            return refusal(user, .read, key: key, rangeEnd: rangeEnd)
        case .write(let proposal):
            return refusal(of: proposal.command, by: user, leaseKeys: leaseKeys)
        case .membership, .createReplica, .backup, .updateShardMap, .leases, .access, .spanLoad:
            return Self.deniedPrefix + "user '\(user)' may not do this: it needs the root role"
        }
    }

    private func refusal(
        of command: StoreCommand, by user: String, leaseKeys: (LeaseID) -> [[UInt8]]
    ) -> String? {
        switch command {
        case .put(let put):
            return refusal(user, .write, key: put.key, rangeEnd: nil)
        case .range(let range):
            return refusal(user, .read, key: range.key, rangeEnd: range.rangeEnd)
        case .deleteRange(let delete):
            return refusal(user, .write, key: delete.key, rangeEnd: delete.rangeEnd)
        case .transaction(let transaction):
            for comparison in transaction.compare {
                if let refusal = refusal(user, .read, key: comparison.key, rangeEnd: nil) { return refusal }
            }
            for operation in transaction.success + transaction.failure {
                if let refusal = refusal(of: operation.command, by: user, leaseKeys: leaseKeys) { return refusal }
            }
            return nil
        case .leaseGrant, .leaseKeepAlive, .closeSession:
            return nil
        case .leaseRevoke(let id):
            // Revoking a lease deletes its keys: allowed only to whoever may delete every one of them.
            for key in leaseKeys(id) {
                if let refusal = refusal(user, .write, key: key, rangeEnd: nil) { return refusal }
            }
            return nil
        case .compact, .importKeys, .releaseKeys, .exportKeys, .adoptKeys, .finishImport, .dropKeys,
            .declareKeyspace:
            return Self.deniedPrefix + "user '\(user)' may not do this: it needs the root role"
        }
    }

    private func refusal(
        _ user: String, _ access: KeyPermission.Access, key: [UInt8], rangeEnd: [UInt8]?
    ) -> String? {
        guard !allows(user, access, key: key, rangeEnd: rangeEnd) else { return nil }
        let what = (rangeEnd?.isEmpty ?? true) ? "" : " and the keys after it"
        return Self.deniedPrefix
            + "user '\(user)' may not \(access.name) '\(String(decoding: key, as: UTF8.self))'\(what): no role of "
            + "theirs grants it"
    }

    static func touchesReservedKeys(key: [UInt8], rangeEnd: [UInt8]?) -> Bool {
        let reserved = AccessRecords.reservedPrefix
        guard let rangeEnd, !rangeEnd.isEmpty else { return key.starts(with: reserved) }
        // [key, rangeEnd) meets [reserved, its end) unless it ends before the reserved keys or starts after them.
        let reservedEnd = KeySpan.prefixEnd(of: reserved) ?? []
        let startsAfter = !key.lexicographicallyPrecedes(reservedEnd)
        let endsBefore = rangeEnd != [0] && !reserved.lexicographicallyPrecedes(rangeEnd)
        return !startsAfter && !endsBefore
    }

    /// Users and roles without password hashes.
    public var summary: AccessSummary {
        AccessSummary(
            enabled: enabled, users: users.mapValues(\.roles), roles: roles.mapValues(\.permissions))
    }
}

extension TransactionOperation {
    var command: StoreCommand {
        switch self {
        case .put(let put): .put(put)
        case .range(let range): .range(range)
        case .deleteRange(let delete): .deleteRange(delete)
        case .transaction(let transaction): .transaction(transaction)
        }
    }
}
