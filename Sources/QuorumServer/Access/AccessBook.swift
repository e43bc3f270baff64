import QuorumStore
import QuorumWire

/// The users, roles and authentication switch as this node last applied them from group 1 (`AccessRecords`), as an
/// `AccessPolicy` every front end asks before serving a request.
///
/// A separate object rather than a read of the store, for the same reason as `AddressBook`: the front ends ask while
/// group 1's driver may be in the middle of a step. Each node decides from its own copy, so a change takes effect on
/// a node when it applies it (milliseconds behind the leader, unless the node is cut off, when it serves no
/// linearizable request anyway).
final class AccessBook: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop (by group 1's state machine and the front ends).
    private(set) var policy = AccessPolicy()

    /// Notes the changes to users, roles and the switch among the events a command applied.
    func observe(_ events: [WatchEvent]) {
        for event in events where event.kv.key.starts(with: AccessRecords.prefix) {
            record(key: event.kv.key, value: event.kind == .put ? event.kv.value : nil)
        }
    }

    /// Rebuilds the policy from a store restored from a snapshot.
    func reload(from store: KeyValueStore) {
        policy = AccessPolicy()
        guard let stored = try? store.range(.prefix(AccessRecords.prefix)) else { return }
        for kv in stored.kvs { record(key: kv.key, value: kv.value) }
    }

    private func record(key: [UInt8], value: [UInt8]?) {
        // Group 1 stores only records the node encoded itself; one that does not decode would be a bug, and is
        // dropped rather than trusted (a user that does not decode cannot authenticate).
        if key == AccessRecords.enabledKey {
            policy.enabled = value != nil
        } else if key.starts(with: AccessRecords.userPrefix) {
            let name = String(decoding: key.dropFirst(AccessRecords.userPrefix.count), as: UTF8.self)
            policy.users[name] = value.flatMap { try? AccessUser(decoding: $0) }
        } else if key.starts(with: AccessRecords.rolePrefix) {
            let name = String(decoding: key.dropFirst(AccessRecords.rolePrefix.count), as: UTF8.self)
            policy.roles[name] = value.flatMap { try? AccessRole(decoding: $0) }
        }
    }
}
