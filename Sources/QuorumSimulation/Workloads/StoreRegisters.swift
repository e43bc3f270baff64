import QuorumStore

/// The register workload carried out by QuorumStore's real `KeyValueStore`, as the server runs it: a put is a
/// `StoreProposal` put, a compare-and-set a one-comparison transaction, a read a range read, each register's value
/// the decimal text of its integer (as the chaos suite writes them), a delete a one-key delete range, and a put may
/// carry a lease, whose revocation deletes the key. Entries in the log are encoded store proposals,
/// so the store's codec, apply, revisions, transactions, snapshots and restore all run under the simulator's faults.
enum StoreRegisters {
    /// The store proposal that carries out `command`, in `session` if the client retries it; a put attaches its key
    /// to `lease`.
    static func proposal(
        for command: RegisterCommand, session: ClientSession? = nil, lease: LeaseID? = nil
    ) -> StoreProposal {
        let key = Array(command.key.utf8)
        precondition(lease == nil || command.operation.isPut, "only a put attaches a lease")
        switch command.operation {
        case .get:
            return StoreProposal(.range(RangeRequest(key: key)), session: session)
        case .put(let value):
            return StoreProposal(.put(PutRequest(key: key, value: bytes(value), lease: lease)), session: session)
        case .delete:
            return StoreProposal(.deleteRange(DeleteRangeRequest(key: key)), session: session)
        case .compareAndSet(let expected, let new):
            let comparison =
                expected.map { Comparison(key: key, .value(bytes($0)), .equal) }
                ?? Comparison(key: key, .version(0), .equal)
            let transaction = TransactionRequest(
                compare: [comparison], success: [.put(PutRequest(key: key, value: bytes(new)))])
            return StoreProposal(.transaction(transaction), session: session)
        }
    }

    /// The register command a proposal made by `proposal(for:)` carries out; nil for any other proposal.
    static func command(of proposal: StoreProposal) -> RegisterCommand? {
        switch proposal.command {
        case .range(let range) where range.rangeEnd == nil:
            return RegisterCommand(key: String(decoding: range.key, as: UTF8.self), operation: .get)
        case .put(let put):
            guard let value = integer(put.value) else { return nil }
            return RegisterCommand(key: String(decoding: put.key, as: UTF8.self), operation: .put(value))
        case .deleteRange(let delete) where delete.rangeEnd == nil:
            return RegisterCommand(key: String(decoding: delete.key, as: UTF8.self), operation: .delete)
        case .transaction(let transaction):
            guard transaction.compare.count == 1, transaction.success.count == 1, transaction.failure.isEmpty,
                case .put(let put) = transaction.success[0], let new = integer(put.value)
            else { return nil }
            let comparison = transaction.compare[0]
            let expected: Int?
            switch (comparison.target, comparison.operator) {
            case (.value(let value), .equal):
                guard let value = integer(value) else { return nil }
                expected = value
            case (.version(0), .equal): expected = nil
            default: return nil
            }
            let key = String(decoding: put.key, as: UTF8.self)
            return RegisterCommand(key: key, operation: .compareAndSet(expected: expected, new: new))
        default:
            return nil
        }
    }

    /// What a register answers, from what the store answered to `proposal(for: command)`; nil if the store's answer
    /// is of another kind or failed.
    static func result(of storeResult: StoreResult, for command: RegisterCommand) -> KVResult? {
        switch (command.operation, storeResult) {
        case (.get, .range(let range)):
            guard let kv = range.kvs.first else { return .value(nil) }
            return integer(kv.value).map { .value($0) }
        case (.put, .put), (.compareAndSet, .transaction), (.delete, .deleteRange): return writeResult(of: storeResult)
        default: return nil
        }
    }

    /// What a register answered to a write, from the store's answer to it; nil if the store's answer is not one to a
    /// put or a compare-and-set.
    static func writeResult(of storeResult: StoreResult) -> KVResult? {
        switch storeResult {
        case .put, .deleteRange: return .ok
        case .transaction(let transaction): return .swapped(transaction.succeeded)
        default: return nil
        }
    }

    /// A register's value as the store holds it now; nil if absent, or if what it holds is no register's value.
    static func value(of key: String, in store: KeyValueStore) -> Int? {
        (try? store.range(RangeRequest(key: Array(key.utf8))))?.kvs.first.flatMap { integer($0.value) }
    }

    /// Every register the store holds, as a register machine keeps them.
    static func registers(in store: KeyValueStore) -> [String: Int]? {
        guard let all = try? store.range(.all()) else { return nil }
        var registers: [String: Int] = [:]
        for kv in all.kvs {
            guard let value = integer(kv.value) else { return nil }
            registers[String(decoding: kv.key, as: UTF8.self)] = value
        }
        return registers
    }

    /// The leases the store holds, each with the registers attached to it.
    static func leases(in store: KeyValueStore) -> [LeaseID: Set<String>] {
        var leases: [LeaseID: Set<String>] = [:]
        for id in store.leaseIDs() {
            let keys = (try? store.timeToLive(of: id, now: StoreTime(milliseconds: 0)))?.keys ?? []
            leases[id] = Set(keys.map { String(decoding: $0, as: UTF8.self) })
        }
        return leases
    }

    private static func bytes(_ value: Int) -> [UInt8] { Array(String(value).utf8) }
    private static func integer(_ bytes: [UInt8]) -> Int? { Int(String(decoding: bytes, as: UTF8.self)) }
}

extension KVOperation {
    var isPut: Bool {
        if case .put = self { true } else { false }
    }
}
