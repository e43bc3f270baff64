import QuorumConsensus
import QuorumStore

/// Where every member listens: the founding list from the command line, plus members added later, whose
/// addresses are replicated in the store under `memberKeyPrefix` (so every node, and every snapshot, has them).
///
/// A separate object rather than a lookup into the store, because the transport asks while the driver is in the
/// middle of a step, when its state machine cannot be read.
final class AddressBook: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop (by the state machine and the transport).
    static let memberKeyPrefix: [UInt8] = GroupRuntime.reservedKeyPrefix + Array("members/".utf8)

    static func memberKey(_ node: NodeID) -> [UInt8] { memberKeyPrefix + Array("\(node.rawValue)".utf8) }

    private let founding: [NodeID: MemberAddress]
    private var added: [NodeID: MemberAddress] = [:]

    init(founding: [NodeID: MemberAddress]) { self.founding = founding }

    func address(of node: NodeID) -> MemberAddress? { founding[node] ?? added[node] }

    /// Every node with a known address: the founding members and those added since.
    var members: Set<NodeID> { Set(founding.keys).union(added.keys) }

    /// Notes a member address the log just stored.
    func record(key: [UInt8], value: [UInt8]) {
        guard key.starts(with: Self.memberKeyPrefix),
            let id = UInt64(String(decoding: key.dropFirst(Self.memberKeyPrefix.count), as: UTF8.self)),
            let address = MemberAddress(parsing: String(decoding: value, as: UTF8.self))
        else { return }
        added[NodeID(id)] = address
    }

    /// Rebuilds the added members from a store restored from a snapshot.
    func reload(from store: KeyValueStore) {
        added.removeAll()
        guard let stored = try? store.range(.prefix(Self.memberKeyPrefix)) else { return }
        for member in stored.kvs { record(key: member.key, value: member.value) }
    }
}
