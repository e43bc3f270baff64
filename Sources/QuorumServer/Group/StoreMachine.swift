import QuorumConsensus
import QuorumNode
import QuorumStore

/// The key-value store as the node driver sees it: commands are encoded `StoreProposal`s. What each command
/// changed goes to the watch hub; member addresses, the shard map and users and roles, written by the cluster itself,
/// go to the address book, the shard map book and the access book (in the cluster's own group only).
struct StoreMachine: ReplicatedStateMachine {
    private(set) var store = KeyValueStore()
    let addressBook: AddressBook?
    let shardMapBook: ShardMapBook?
    let accessBook: AccessBook?
    let watchHub: WatchHub

    init(addressBook: AddressBook?, shardMapBook: ShardMapBook?, accessBook: AccessBook?, watchHub: WatchHub) {
        self.addressBook = addressBook
        self.shardMapBook = shardMapBook
        self.accessBook = accessBook
        self.watchHub = watchHub
    }

    mutating func apply(_ entry: Entry) -> StoreResult? {
        guard case .command(let bytes) = entry.kind else { return nil }
        do {
            let proposal = try StoreProposal(decoding: bytes)
            let applied = store.apply(proposal)
            if case .put(let put) = proposal.command { addressBook?.record(key: put.key, value: put.value) }
            shardMapBook?.observe(applied.events)
            accessBook?.observe(applied.events)
            watchHub.publish(applied.events)
            return applied.result
        } catch {
            // The leader checked the proposal before proposing it; every replica refuses it the same way.
            return .failed(error)
        }
    }

    func snapshotImage() -> KeyValueStore { store }
    static func serialize(_ image: KeyValueStore) -> [UInt8] { image.snapshot() }

    mutating func restore(from snapshot: [UInt8]) {
        do {
            store = try KeyValueStore(restoringFrom: snapshot)
            addressBook?.reload(from: store)
            shardMapBook?.reload(from: store)
            accessBook?.reload(from: store)
        } catch {
            // Snapshots are checksummed on disk and on the wire, and were produced by `snapshot()` above: one
            // that does not decode is a bug, and applying anything further would diverge from the group.
            preconditionFailure("a checksummed snapshot does not decode: \(error)")
        }
    }
}

extension KeyValueStore {
    /// The keys that exist now and that clients can see: the cluster's own (member addresses, under
    /// `GroupRuntime.reservedKeyPrefix`) are not counted.
    var clientKeyCount: Int {
        let reserved = (try? range(.prefix(GroupRuntime.reservedKeyPrefix, countOnly: true)))?.count ?? 0
        return liveKeyCount - reserved
    }
}
