import QuorumConsensus
import QuorumNode
import QuorumStore

/// The key-value store as the node driver sees it: commands are encoded `StoreProposal`s. Member addresses
/// written by the cluster itself are also noted in the address book.
struct StoreMachine: ReplicatedStateMachine {
    private(set) var store = KeyValueStore()
    let addressBook: AddressBook

    init(addressBook: AddressBook) { self.addressBook = addressBook }

    mutating func apply(_ entry: Entry) -> StoreResult? {
        guard case .command(let bytes) = entry.kind else { return nil }
        do {
            let proposal = try StoreProposal(decoding: bytes)
            let result = store.apply(proposal).result
            if case .put(let put) = proposal.command { addressBook.record(key: put.key, value: put.value) }
            return result
        } catch {
            // The leader checked the proposal before proposing it; every replica refuses it the same way.
            return .failed(error)
        }
    }

    func snapshot() -> [UInt8] { store.snapshot() }

    mutating func restore(from snapshot: [UInt8]) {
        do {
            store = try KeyValueStore(restoringFrom: snapshot)
            addressBook.reload(from: store)
        } catch {
            // Snapshots are checksummed on disk and on the wire, and were produced by `snapshot()` above: one
            // that does not decode is a bug, and applying anything further would diverge from the group.
            preconditionFailure("a checksummed snapshot does not decode: \(error)")
        }
    }
}
