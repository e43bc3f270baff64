import QuorumConsensus
import QuorumSharding

/// A state change (or a read that must be ordered with writes) that goes through the replicated log.
/// Apply it with `KeyValueStore.apply(_:)`; encode it with `encoded` and decode with `init(decoding:limits:)`.
public enum StoreCommand: Hashable, Sendable {
    case put(PutRequest)
    case range(RangeRequest)
    case deleteRange(DeleteRangeRequest)
    case transaction(TransactionRequest)
    /// Makes every revision below this one unreadable and lets the store drop history older than it.
    case compact(Revision)
    case leaseGrant(id: LeaseID, ttl: LeaseTTL, grantedAt: StoreTime)
    /// Renews a lease: its deadline becomes `at + ttl`.
    case leaseKeepAlive(id: LeaseID, at: StoreTime)
    /// Deletes the lease and every key attached to it, in one revision. The leader also proposes this when
    /// `expiredLeases(now:limit:)` reports the lease.
    case leaseRevoke(LeaseID)
    /// Forgets a client's exactly-once session (the client is done); its later retries would apply again.
    case closeSession(ClientID)
    /// The steps of moving keys (hash slots, or a span of a range-sharded keyspace) from one group to another,
    /// each its own log entry in the group it concerns (see `KeyOwnership`): the target begins importing; the source
    /// releases; the source's released keys are read page by page and adopted by the target; the target finishes;
    /// the source drops what it released. Each step may be repeated, so a move that stopped half-way is resumed by
    /// running it again.
    case importKeys(KeySelector, from: GroupID)
    case releaseKeys(KeySelector, to: GroupID)
    /// Reads up to `limit` released keys, in key order after `after` (empty: from the first).
    case exportKeys(KeySelector, after: [UInt8], limit: Int)
    case adoptKeys([MovedKey])
    case finishImport(KeySelector)
    case dropKeys(KeySelector)
    /// Makes keys under a prefix range-sharded in this group: owned here, or refused until a span is imported.
    case declareKeyspace(prefix: [UInt8], ownedHere: Bool)
}

/// A key on its way from one group to another, with its lease (the target creates the lease if it lacks it).
public struct MovedKey: Hashable, Sendable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var lease: MovedLease?

    public init(key: [UInt8], value: [UInt8], lease: MovedLease?) {
        self.key = key
        self.value = value
        self.lease = lease
    }
}

public struct MovedLease: Hashable, Sendable {
    public var id: LeaseID
    public var ttl: LeaseTTL
    public var deadline: StoreTime

    public init(id: LeaseID, ttl: LeaseTTL, deadline: StoreTime) {
        self.id = id
        self.ttl = ttl
        self.deadline = deadline
    }
}

public struct PutRequest: Hashable, Sendable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var lease: LeaseID?
    /// Return the previous key-value in the response.
    public var prevKV: Bool
    /// Keep the current value; fails with `.keyNotFound` if the key does not exist.
    public var ignoreValue: Bool
    /// Keep the current lease; fails with `.keyNotFound` if the key does not exist.
    public var ignoreLease: Bool
    /// ZooKeeper's sequential node: `key` is a prefix, and the store appends the next value of its sequence
    /// counter, zero-padded to 20 digits, so that keys under one prefix sort in the order they were created.
    /// The response names the key written.
    public var sequential: Bool
    /// When not empty, the new value is the current one with these byte ranges replaced, in order (`value` must be
    /// empty; fails with `.keyNotFound` if the key does not exist). A small change to a large value, such as a push
    /// onto a long list, then travels through the log as its size, not the value's.
    public var splices: [ValueSplice]

    public init(
        key: [UInt8], value: [UInt8], lease: LeaseID? = nil, prevKV: Bool = false, ignoreValue: Bool = false,
        ignoreLease: Bool = false, sequential: Bool = false, splices: [ValueSplice] = []
    ) {
        self.key = key
        self.value = value
        self.lease = lease
        self.prevKV = prevKV
        self.ignoreValue = ignoreValue
        self.ignoreLease = ignoreLease
        self.sequential = sequential
        self.splices = splices
    }
}

/// Replaces `removing` bytes at `offset` of a value with `inserting`.
public struct ValueSplice: Hashable, Sendable {
    public var offset: Int
    public var removing: Int
    public var inserting: [UInt8]

    public init(offset: Int, removing: Int, inserting: [UInt8]) {
        self.offset = offset
        self.removing = removing
        self.inserting = inserting
    }

    /// `value` with `splices` applied in order, or nil if one reaches past the value as it then is.
    public static func apply(_ splices: [ValueSplice], to value: [UInt8]) -> [UInt8]? {
        var result = value
        for splice in splices {
            guard splice.offset >= 0, splice.removing >= 0, splice.offset <= result.count,
                splice.removing <= result.count - splice.offset
            else { return nil }
            result.replaceSubrange(splice.offset..<(splice.offset + splice.removing), with: splice.inserting)
        }
        return result
    }

    /// At most two splices that turn `old` into `new`: the first `header` bytes (a fixed-size header that both
    /// share the size of) if they differ, then the rest by its longest common prefix and suffix. Empty when the two
    /// are equal.
    public static func difference(from old: [UInt8], to new: [UInt8], header: Int = 0) -> [ValueSplice] {
        var splices: [ValueSplice] = []
        let header = min(header, old.count, new.count)
        if old[..<header] != new[..<header] {
            splices.append(ValueSplice(offset: 0, removing: header, inserting: Array(new[..<header])))
        }
        let oldBody = old[header...]
        let newBody = new[header...]
        var prefix = 0
        let shorter = min(oldBody.count, newBody.count)
        while prefix < shorter, oldBody[oldBody.startIndex + prefix] == newBody[newBody.startIndex + prefix] {
            prefix += 1
        }
        var suffix = 0
        while suffix < shorter - prefix,
            oldBody[oldBody.endIndex - 1 - suffix] == newBody[newBody.endIndex - 1 - suffix]
        {
            suffix += 1
        }
        guard prefix + suffix < oldBody.count || prefix + suffix < newBody.count else { return splices }
        splices.append(
            ValueSplice(
                offset: header + prefix, removing: oldBody.count - prefix - suffix,
                inserting: Array(newBody[(newBody.startIndex + prefix)..<(newBody.endIndex - suffix)])))
        return splices
    }
}

public struct DeleteRangeRequest: Hashable, Sendable {
    public var key: [UInt8]
    /// Same meaning as in `RangeRequest`.
    public var rangeEnd: [UInt8]?
    public var prevKV: Bool

    public init(key: [UInt8], rangeEnd: [UInt8]? = nil, prevKV: Bool = false) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.prevKV = prevKV
    }
}

/// A command a client tags with its session so that a retry is applied at most once.
public struct ClientSession: Hashable, Sendable {
    public var client: ClientID
    public var sequence: SequenceNumber
    public init(client: ClientID, sequence: SequenceNumber) {
        self.client = client
        self.sequence = sequence
    }
}

/// What one log entry carries: a command and, for exactly-once writes, the session it belongs to.
public struct StoreProposal: Hashable, Sendable {
    public var session: ClientSession?
    public var command: StoreCommand
    public init(_ command: StoreCommand, session: ClientSession? = nil) {
        self.command = command
        self.session = session
    }
}
