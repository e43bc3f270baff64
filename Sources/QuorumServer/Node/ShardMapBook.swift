import QuorumSharding
import QuorumStore

/// The cluster's shard map as this node last applied it from group 1, where it is replicated under one reserved key
/// (`key`), so every node and every snapshot has it. Until the first change is stored the map is the founding
/// assignment, derived from the group count the cluster was founded with.
///
/// A separate object rather than a read of the store, for the same reason as `AddressBook`: routing asks while
/// group 1's driver may be in the middle of a step.
final class ShardMapBook: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop (by group 1's state machine and the routers).
    static let key: [UInt8] = GroupRuntime.reservedKeyPrefix + Array("shard-map".utf8)

    /// The map last stored, nil while none is.
    private(set) var stored: ShardMap?

    /// The map in force for a cluster founded with `groups` groups.
    func map(foundingGroups groups: Int) -> ShardMap { stored ?? .founding(groups: groups) }

    /// Notes a change to the map among the events a command applied; its version is the new epoch.
    func observe(_ events: [WatchEvent]) {
        for event in events where event.kv.key == Self.key { record(event.kind == .put ? event.kv : nil) }
    }

    /// Rebuilds the map from a store restored from a snapshot.
    func reload(from store: KeyValueStore) { record(store.get(Self.key)) }

    private func record(_ kv: KeyValue?) {
        // Group 1 stores only maps it checked before proposing them; one that does not decode would be a bug, and
        // keeping the previous map is safer than routing by a broken one.
        guard let kv else { return stored = nil }
        if let map = try? ShardMap(decoding: kv.value, epoch: kv.version) { stored = map }
    }
}
