import QuorumStore
import QuorumWire

/// The keys one command (or one MULTI/EXEC block) works on, as one read saw them, and the writes it decides on.
/// Pure: the executor fills it from a read, runs the commands against it in order (each sees the effects of the
/// ones before), and turns the outcome into one store transaction that compares every key read against the mod
/// revision seen, so the whole thing applies atomically or not at all (then it is retried from a fresh read).
///
/// Expiry: a key whose lease deadline is at or before `now` (the clock of the node that served the read) is
/// absent here, even if the leader's revoke has not applied yet.
struct RedisWorkingSet {
    struct Entry {
        /// The stored bytes. A hash, set, sorted set or list that a command changed is kept decoded (`typed`) and
        /// encoded only when its bytes are asked for: 50 pushes joined into one transaction then decode and encode a
        /// long list once, not 50 times.
        var value: [UInt8] {
            get { typed?.encoded ?? bytes }
            set {
                bytes = newValue
                typed = nil
            }
        }
        private var bytes: [UInt8]
        private(set) var typed: RedisTypedValue?
        /// The key's lease: its own TTL (the port gives every key with a TTL its own lease) or a KV API lease.
        var lease: LeaseID?
        var deadline: StoreTime?

        init(value: [UInt8], lease: LeaseID?, deadline: StoreTime?) {
            bytes = value
            self.lease = lease
            self.deadline = deadline
        }

        init(typed: RedisTypedValue, lease: LeaseID?, deadline: StoreTime?) {
            bytes = []
            self.typed = typed
            self.lease = lease
            self.deadline = deadline
        }

        /// Drops the decoded value, which a command is about to change and store back: until it does, the entry
        /// holds nothing.
        fileprivate mutating func giveUpDecoded() { typed = nil }
    }

    let now: StoreTime
    /// The largest value a hash, set, sorted set or list may be encoded to: the store's value limit (or the node's
    /// request limit, if lower).
    let valueBytesMax: Int
    /// The mod revision of every key read, as stored (0 when absent): the transaction's comparisons.
    private(set) var observed: [[UInt8]: Revision] = [:]
    /// The lease each key read holds in the store, expired or not.
    private(set) var storedLeases: [[UInt8]: LeaseID] = [:]
    private var entries: [[UInt8]: Entry] = [:]
    /// Each live key's value as read: what a write may describe as an edit of (`operations`).
    private var readValues: [[UInt8]: [UInt8]] = [:]
    /// Keys written, in the order first written, so the transaction's operations are deterministic.
    private(set) var writtenKeys: [[UInt8]] = []
    /// The live keys of the keyspace as read for KEYS, SCAN or DBSIZE queued in MULTI; nil when not read.
    var keyspace: Set<[UInt8]>?
    /// FLUSHDB or FLUSHALL ran: the transaction deletes every key before writing the keys written since.
    private(set) var flushed = false
    /// What a script published (`redis.call('publish', ...)`): delivered only once its writes applied.
    private(set) var publications: [Publication] = []
    /// Leases to grant before the transaction, for new TTLs.
    private(set) var grants: [LeaseID: LeaseTTL] = [:]
    private let makeLeaseID: @Sendable () -> LeaseID

    init(
        now: StoreTime, valueBytesMax: Int = StoreLimits.default.valueBytesMax,
        makeLeaseID: @escaping @Sendable () -> LeaseID
    ) {
        self.now = now
        self.valueBytesMax = valueBytesMax
        self.makeLeaseID = makeLeaseID
    }

    /// Records what a read returned for `key` (nil: absent).
    mutating func load(_ key: [UInt8], _ kv: KeyValue?, deadline: StoreTime?) {
        observed[key] = kv?.modRevision ?? .zero
        if let lease = kv?.lease { storedLeases[key] = lease }
        guard let kv else { return }
        // A lease missing from the store is being revoked: the key is as good as gone.
        if kv.lease != nil, (deadline ?? 0) <= now { return }
        entries[key] = Entry(value: kv.value, lease: kv.lease, deadline: deadline)
        readValues[key] = kv.value
    }

    func entry(_ key: [UInt8]) -> Entry? { entries[key] }

    mutating func set(_ key: [UInt8], _ entry: Entry?) {
        if !writtenKeys.contains(key) { writtenKeys.append(key) }
        entries[key] = entry
    }

    /// Changes the list under `key` in place and stores it; nil when the key is absent and `creating` is false.
    /// The entry gives up its copy first, so `change` holds the only reference to the elements: changing a shared
    /// list copies, and retains, every element, which made each push onto a list of 100,000 elements cost 100,000
    /// retains. `growth` bounds the bytes the change adds, so the size limit is checked before anything changes.
    mutating func changeList<Result>(
        _ key: [UInt8], creating: Bool = false, growth: Int = 0, _ change: (inout [[UInt8]]) -> Result
    ) throws(RedisReplyError) -> Result? {
        guard var list = try typed(key, .list) ?? (creating ? RedisTypedValue(kind: .list, elements: []) : nil) else {
            return nil
        }
        try checkSize(of: .list, bytes: list.encodedCount + growth)
        entries[key]?.giveUpDecoded()
        let result = change(&list.elements)
        replace(key, with: list)
        return result
    }

    /// A fresh lease for a key that is to live `ttl` from now.
    mutating func grant(_ ttl: LeaseTTL) -> Entry.Lease {
        let id = makeLeaseID()
        grants[id] = ttl
        return Entry.Lease(id: id, deadline: now.adding(ttl))
    }

    /// Whether the transaction changes anything.
    var writesAnything: Bool { flushed || !writtenKeys.isEmpty }

    mutating func publish(_ publication: Publication) { publications.append(publication) }

    /// FLUSHDB, FLUSHALL: every key is gone for the commands after.
    mutating func flush() {
        flushed = true
        keyspace = []
        for key in entries.keys { set(key, nil) }
    }

    /// The live keys as the commands so far left them, sorted; empty unless the keyspace was read.
    var liveKeys: [[UInt8]] {
        var keys = keyspace ?? []
        for key in writtenKeys {
            if entries[key] != nil { keys.insert(key) } else { keys.remove(key) }
        }
        return keys.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The transaction's operations: the final state of each key written, after deleting every key if flushed. A
    /// key whose value was read and changed only a little is written as splices of the value read (which the
    /// transaction's comparison guarantees is the one it edits): a push onto a long list travels as the element.
    var operations: [TransactionOperation] {
        let finalStates = writtenKeys.map { key -> TransactionOperation in
            guard let entry = entries[key] else { return .deleteRange(DeleteRangeRequest(key: key)) }
            let value = entry.value
            if !flushed, let read = readValues[key] {
                let header = RedisTypedValue.isTyped(read) && RedisTypedValue.isTyped(value)
                let splices = ValueSplice.difference(
                    from: read, to: value, header: header ? RedisTypedValue.headerBytes : 0)
                if !splices.isEmpty, splices.reduce(0, { $0 + 8 + $1.inserting.count }) * 2 < value.count {
                    return .put(PutRequest(key: key, value: [], lease: entry.lease, splices: splices))
                }
            }
            return .put(PutRequest(key: key, value: value, lease: entry.lease))
        }
        return (flushed ? Self.everyKeyDeletions : []) + finalStates
    }

    /// Deletes every key of the Redis keyspace, around the keys the cluster keeps for itself.
    static let everyKeyDeletions: [TransactionOperation] = [
        .deleteRange(DeleteRangeRequest(key: [0], rangeEnd: GroupRuntime.reservedKeyPrefix)),
        .deleteRange(DeleteRangeRequest(key: KeyRange.prefixEnd(of: GroupRuntime.reservedKeyPrefix), rangeEnd: [0])),
    ]

    /// Leases that may be left without keys once the transaction applied: the old leases of keys written, and
    /// grants that no key ended up holding. The executor revokes each one that holds no key.
    var leasesToRelease: Set<LeaseID> {
        var leases = Set(grants.keys)
        for key in writtenKeys { if let lease = storedLeases[key] { leases.insert(lease) } }
        for key in writtenKeys { if let lease = entries[key]?.lease { leases.remove(lease) } }
        return leases
    }
}

extension RedisWorkingSet.Entry {
    struct Lease {
        var id: LeaseID
        var deadline: StoreTime
    }

    init(value: [UInt8], lease: Lease?) {
        self.init(value: value, lease: lease?.id, deadline: lease?.deadline)
    }
}
