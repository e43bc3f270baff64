import DequeModule
import QuorumSharding

/// The replicated state machine: an etcd-v3-style multi-version key-value store with leases, exactly-once
/// sessions and watch events. Pure and deterministic: applying the same proposals in the same order gives every
/// replica the same state, the same results and byte-identical snapshots.
///
/// Driven by the node: `apply(_:)` for each committed entry (after `StoreProposal(decoding:)`), the read
/// queries (`range`, `get`, `events`, `expiredLeases`, `hasLease`, `timeToLive`, `leaseIDs`) for ReadIndex reads
/// and the leader's lease-expiry loop, `snapshot()` / `init(restoringFrom:)` for log compaction and catch-up.
///
/// Sessions: the store keeps the last result of each client that tags proposals with a `ClientSession`. A
/// retry with the same sequence number gets that result back without applying again; an older sequence is
/// refused. Sessions end explicitly with `.closeSession`, and their number is bounded by
/// `StoreLimits.sessionsMax`: beyond it the least recently used tenth is forgotten (at a deterministic point,
/// counted in applied commands). A retry from an evicted session is applied again, so the limit should exceed
/// the number of clients active within a retry window. Bounding by count rather than by time keeps the state
/// machine free of clocks.
public struct KeyValueStore: Sendable {
    public let limits: StoreLimits
    /// The revision of the latest write. Invariant: >= every record's revision; 0 before the first write.
    public internal(set) var revision: Revision = .zero
    /// Reads and watches below this revision fail with `.compacted`. Invariant: <= `revision`.
    public internal(set) var compactedRevision: Revision = .zero

    /// Every key with retained history, including deleted keys whose tombstone is not yet compacted.
    /// Invariant: the same keys as `index`, at the slots `index` records; every history is non-empty.
    var histories = KeyHistoryTable()
    var index = SortedKeyIndex()
    /// Every retained write in apply order, for watch resumption and incremental compaction.
    /// Invariant: (revision, subRevision) increases; entries below `compactedRevision` are pending compaction.
    var writeLog: Deque<WriteLogEntry> = []
    var leases: [LeaseID: LeaseState] = [:]
    /// Invariant: exactly the (deadline, id) of each of `leases`.
    var leasesByExpiry = LeasesByExpiry()
    var sessions: [ClientID: SessionRecord] = [:]
    /// Counts applied proposals; orders sessions by last use without a clock.
    var appliedCount: UInt64 = 0
    /// The number the last sequential put appended. One counter for the whole store, so a sequence number is
    /// never reused under any prefix, even after every key under it was deleted.
    var lastSequence: UInt64 = 0
    /// The keys this group imports, adopted or released; such a key that is not served here is refused.
    public internal(set) var ownership = KeyOwnership()

    public init(limits: StoreLimits = .default) {
        self.limits = limits
    }

    /// Applies one committed proposal and returns its result and watch events.
    public mutating func apply(_ proposal: StoreProposal) -> AppliedCommand {
        appliedCount += 1
        defer { compactStep(budget: limits.compactionStepsPerCommand) }
        guard let session = proposal.session else { return perform(proposal.command) }
        if let known = sessions[session.client] {
            if session.sequence == known.sequence {
                sessions[session.client]?.lastUsed = appliedCount
                return AppliedCommand(result: known.result, events: [], wasDuplicate: true)
            }
            if session.sequence < known.sequence {
                let stale = StoreError.staleSequence(
                    client: session.client, sequence: session.sequence, latest: known.sequence)
                return AppliedCommand(result: .failed(stale), events: [])
            }
        }
        let applied = perform(proposal.command)
        if case .closeSession(let client) = proposal.command, client == session.client { return applied }
        sessions[session.client] = SessionRecord(
            sequence: session.sequence, result: applied.result, lastUsed: appliedCount)
        evictSessionsIfNeeded()
        return applied
    }

    /// The newest sequence each client session applied, with the result a retry of it gets again.
    public var sessionResults: [ClientSession: StoreResult] {
        Dictionary(
            uniqueKeysWithValues: sessions.map {
                (ClientSession(client: $0.key, sequence: $0.value.sequence), $0.value.result)
            }
        )
    }

    /// Applies a command that carries no session.
    public mutating func apply(_ command: StoreCommand) -> AppliedCommand {
        apply(StoreProposal(command))
    }

    private mutating func perform(_ command: StoreCommand) -> AppliedCommand {
        do throws(StoreError) {
            switch command {
            case .put(let request):
                try validate(request)
                var writer = beginWrite()
                let response = writePut(request, with: &writer)
                finishWrite(writer)
                return AppliedCommand(result: .put(response), events: writer.events)
            case .range(let request):
                return AppliedCommand(result: .range(try range(request)), events: [])
            case .deleteRange(let request):
                try validate(request)
                var writer = beginWrite()
                var response = writeDelete(request, with: &writer)
                finishWrite(writer)
                response.revision = revision
                return AppliedCommand(result: .deleteRange(response), events: writer.events)
            case .transaction(let request):
                let (response, events) = try applyTransaction(request)
                return AppliedCommand(result: .transaction(response), events: events)
            case .compact(let target):
                try compact(to: target)
                return AppliedCommand(result: .compacted(revision: revision), events: [])
            case .leaseGrant(let id, let ttl, let grantedAt):
                try grantLease(id, ttl: ttl, at: grantedAt)
                return AppliedCommand(result: .leaseGranted(id: id, ttl: ttl, revision: revision), events: [])
            case .leaseKeepAlive(let id, let now):
                let ttl = try keepLeaseAlive(id, at: now)
                return AppliedCommand(result: .leaseKeptAlive(id: id, ttl: ttl, revision: revision), events: [])
            case .leaseRevoke(let id):
                let events = try revokeLease(id)
                return AppliedCommand(result: .leaseRevoked(revision: revision), events: events)
            case .closeSession(let client):
                sessions[client] = nil
                return AppliedCommand(result: .sessionClosed(revision: revision), events: [])
            case .importKeys, .releaseKeys, .exportKeys, .adoptKeys, .finishImport, .dropKeys, .declareKeyspace:
                return try performMove(command)
            }
        } catch {
            return AppliedCommand(result: .failed(error), events: [])
        }
    }

    private mutating func evictSessionsIfNeeded() {
        guard sessions.count > limits.sessionsMax else { return }
        // Evicting a tenth at once keeps the sort amortised to O(log n) per new session.
        let keep = limits.sessionsMax - limits.sessionsMax / 10
        let byAge = sessions.sorted { ($0.value.lastUsed, $0.key) < ($1.value.lastUsed, $1.key) }
        for (client, _) in byAge.prefix(sessions.count - keep) { sessions[client] = nil }
        precondition(sessions.count <= limits.sessionsMax)
    }
}

/// One write in the store-wide write log.
struct WriteLogEntry: Hashable, Sendable {
    var revision: Revision
    var subRevision: UInt32
    var key: [UInt8]
}

struct LeaseState: Hashable, Sendable {
    var ttl: LeaseTTL
    /// The leader may revoke the lease once its clock reaches this time.
    var deadline: StoreTime
    /// Keys whose live version is attached to this lease.
    var keys: Set<[UInt8]>
}

struct SessionRecord: Hashable, Sendable {
    var sequence: SequenceNumber
    var result: StoreResult
    var lastUsed: UInt64
}
