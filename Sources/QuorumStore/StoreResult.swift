/// What applying a command answered. A refused command is `.failed`, not a thrown error: the refusal is itself a
/// replicated, deterministic outcome that a session caches and the server returns to the client.
public enum StoreResult: Hashable, Sendable {
    case put(PutResponse)
    case range(RangeResponse)
    case deleteRange(DeleteRangeResponse)
    case transaction(TransactionResponse)
    /// Header revision after the command (compact, lease grant, keep-alive, revoke, close session).
    case compacted(revision: Revision)
    case leaseGranted(id: LeaseID, ttl: LeaseTTL, revision: Revision)
    case leaseKeptAlive(id: LeaseID, ttl: LeaseTTL, revision: Revision)
    case leaseRevoked(revision: Revision)
    case sessionClosed(revision: Revision)
    /// A step of a move that changed which keys the group serves (import, release, adopt, finish, drop, declare).
    case keysMoved(revision: Revision)
    /// An import asked again after it had finished: nothing changed, and the move must not copy keys again.
    case keysAlreadyImported(revision: Revision)
    /// A page of released keys; `next` is where the following page starts, nil after the last.
    case keysExported(keys: [MovedKey], next: [UInt8]?, revision: Revision)
    case failed(StoreError)
}

public struct PutResponse: Hashable, Sendable {
    /// The store's revision after the put: the put's own revision.
    public var revision: Revision
    public var prevKV: KeyValue?
    /// The key a sequential put created; nil for other puts, whose key the caller named.
    public var sequentialKey: [UInt8]?
    public init(revision: Revision, prevKV: KeyValue?, sequentialKey: [UInt8]? = nil) {
        self.revision = revision
        self.prevKV = prevKV
        self.sequentialKey = sequentialKey
    }
}

public struct RangeResponse: Hashable, Sendable {
    /// The store's current revision when the read was served (not the revision read at), as in etcd's header.
    public var revision: Revision
    public var kvs: [KeyValue]
    /// Whether more keys matched than `limit` let through.
    public var more: Bool
    /// Every key that matched, regardless of `limit`.
    public var count: Int
    public init(revision: Revision, kvs: [KeyValue], more: Bool, count: Int) {
        self.revision = revision
        self.kvs = kvs
        self.more = more
        self.count = count
    }
}

public struct DeleteRangeResponse: Hashable, Sendable {
    public var revision: Revision
    public var deleted: Int
    /// Filled only when the request asked for it.
    public var prevKVs: [KeyValue]
    public init(revision: Revision, deleted: Int, prevKVs: [KeyValue]) {
        self.revision = revision
        self.deleted = deleted
        self.prevKVs = prevKVs
    }
}

public struct TransactionResponse: Hashable, Sendable {
    public var revision: Revision
    /// Whether every comparison held (the `success` branch ran).
    public var succeeded: Bool
    public var responses: [TransactionOperationResponse]
    public init(revision: Revision, succeeded: Bool, responses: [TransactionOperationResponse]) {
        self.revision = revision
        self.succeeded = succeeded
        self.responses = responses
    }
}

public indirect enum TransactionOperationResponse: Hashable, Sendable {
    case put(PutResponse)
    case range(RangeResponse)
    case deleteRange(DeleteRangeResponse)
    case transaction(TransactionResponse)
}

/// The result of applying one log entry, plus the watch events it produced (empty for reads and refusals).
public struct AppliedCommand: Hashable, Sendable {
    public var result: StoreResult
    public var events: [WatchEvent]
    /// True when a session retry was answered from the cache without applying anything.
    public var wasDuplicate: Bool
    public init(result: StoreResult, events: [WatchEvent], wasDuplicate: Bool = false) {
        self.result = result
        self.events = events
        self.wasDuplicate = wasDuplicate
    }
}

/// What `timeToLive(of:now:)` reports about a lease.
public struct LeaseStatus: Hashable, Sendable {
    public var id: LeaseID
    public var grantedTTL: LeaseTTL
    /// Whole seconds left before the deadline, rounded down; 0 once it has passed.
    public var remainingSeconds: UInt64
    public var deadline: StoreTime
    public var keys: [[UInt8]]

    public init(id: LeaseID, grantedTTL: LeaseTTL, remainingSeconds: UInt64, deadline: StoreTime, keys: [[UInt8]]) {
        self.id = id
        self.grantedTTL = grantedTTL
        self.remainingSeconds = remainingSeconds
        self.deadline = deadline
        self.keys = keys
    }
}
