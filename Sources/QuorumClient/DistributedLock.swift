import QuorumStore

/// A lock (or read lock, write lock, semaphore permit, leadership) held through a session.
///
/// `token` is the fencing token: it only grows from one holder of a name to the next, so a resource that remembers
/// the largest token it has seen can refuse a holder that lost the lock without knowing (paused past its TTL, cut
/// off by a partition). Pass it to such a resource (see `FencedResource`), or write to Quorum with
/// `fencedTransaction(_:)`, which applies only while this hold is current.
public struct LockHandle: Sendable {
    public let name: String
    public let token: UInt64
    public let session: Session
    let contender: LockQueue.Contender
    let queue: LockQueue
    /// Recipe state deleted together with the hold on release (the lock-delay marker).
    let releaseAlsoDeletes: [[UInt8]]
    /// The session was made for this hold alone (`lock(_:ttl:)`), so releasing ends it too.
    let ownsSession: Bool

    /// Holds exactly while this hold is current; add it to your own transactions to fence them.
    public var isHeld: Comparison { contender.isStillQueued }

    /// Runs `request` only if this hold is still current, all in one revision. Throws `.sessionLost` if it is not:
    /// the lock has moved on and nothing was written.
    public func fencedTransaction(_ request: TransactionRequest) async throws(QuorumClientError) -> TransactionResponse {
        let fenced = TransactionRequest(compare: [isHeld], success: [.transaction(request)], failure: [])
        let response = try await queue.client.transaction(fenced)
        guard response.succeeded else { throw .sessionLost(session.lease) }
        guard case .transaction(let inner)? = response.responses.first else {
            throw .unexpectedResponse("a fenced transaction answered without its inner transaction")
        }
        return inner
    }

    /// Returns once the session behind this hold is lost; from then on the hold is void.
    public func lost() async { await session.lost() }

    /// Releases the hold. Releasing a hold that was already lost is not an error: there is nothing left to release.
    public func unlock() async throws(QuorumClientError) {
        try await queue.leave(contender, alsoDeleting: releaseAlsoDeletes)
        if ownsSession { try await session.close() }
    }
}

/// How a lock behaves.
public struct LockOptions: Sendable {
    /// Give up after this long (`.lockTimedOut`); nil waits for as long as the caller's task lives.
    public var timeout: Duration?
    /// After a holder is *lost* (its session ended without releasing), the lock stays unavailable this long, so
    /// that a holder that is merely slow has time to notice before the next one acts (Chubby's and Consul's
    /// lock-delay). A holder that releases normally passes the lock on at once. The delay is a lease, so the
    /// leader's clock times it. Every client of one lock name must use the same lock-delay.
    public var lockDelay: Duration

    public init(timeout: Duration? = nil, lockDelay: Duration = .zero) {
        self.timeout = timeout
        self.lockDelay = lockDelay
    }
}

extension QuorumClient {
    /// Waits until `name` is held through `session`, in order of arrival, and returns the hold with its fencing
    /// token. Cancelling the calling task, or the timeout, leaves the queue and throws.
    public func lock(_ name: String, session: Session, options: LockOptions = LockOptions())
        async throws(QuorumClientError) -> LockHandle
    {
        let queue = LockQueue(client: self, kind: "locks", name: name)
        return try await queue.acquire(
            name: name, value: [], session: session, ownsSession: false, options: options, turn: Self.exclusiveTurn)
    }

    /// `lock(_:session:options:)` with a session of its own, kept alive in the background and ended by `unlock()`.
    public func lock(_ name: String, ttl: Duration, options: LockOptions = LockOptions())
        async throws(QuorumClientError) -> LockHandle
    {
        let session = try await Session(client: self, ttl: ttl)
        let queue = LockQueue(client: self, kind: "locks", name: name)
        do throws(QuorumClientError) {
            return try await queue.acquire(
                name: name, value: [], session: session, ownsSession: true, options: options, turn: Self.exclusiveTurn)
        } catch {
            try? await session.close()
            throw error
        }
    }

    /// Takes `name` if nobody holds it or waits for it; nil otherwise, without waiting.
    public func tryLock(_ name: String, session: Session, lockDelay: Duration = .zero)
        async throws(QuorumClientError) -> LockHandle?
    {
        let queue = LockQueue(client: self, kind: "locks", name: name)
        return try await queue.tryAcquire(
            name: name, value: [], session: session, lockDelay: lockDelay, turn: Self.exclusiveTurn)
    }

    /// A mutex's turn: first in the queue; until then, wait for the one just ahead.
    static let exclusiveTurn: LockQueue.Turn = { queue, position in position == 0 ? nil : queue[position - 1].key }
}

extension LockQueue {
    /// The lock-delay marker. While a lock is held it names the holder's token and has no lease, so it outlives a
    /// holder that is lost; the next contender then replaces it with a marker on a lease of the delay's length,
    /// and the lock is unavailable until the leader expires that lease.
    var holderMarker: [UInt8] { prefix + Array("holder".utf8) }

    func acquire(
        name: String, value: [UInt8], session: Session, ownsSession: Bool, options: LockOptions, turn: @escaping Turn
    ) async throws(QuorumClientError) -> LockHandle {
        let me = try await enqueue(value: value, session: session)
        do {
            try await withDeadline(options.timeout, name: name) {
                _ = try await awaitTurn(of: me, session: session, turn: turn)
                if options.lockDelay > .zero {
                    try await honourLockDelay(options.lockDelay, for: me, session: session, turn: turn)
                }
            }
        } catch {
            await abandon(me)
            throw error
        }
        return LockHandle(
            name: name, token: me.token.rawValue, session: session, contender: me, queue: self,
            releaseAlsoDeletes: options.lockDelay > .zero ? [holderMarker] : [], ownsSession: ownsSession)
    }

    func tryAcquire(name: String, value: [UInt8], session: Session, lockDelay: Duration, turn: Turn)
        async throws(QuorumClientError) -> LockHandle?
    {
        let me = try await enqueue(value: value, session: session)
        let (queue, _) = try await contenders(asSeenBy: me)
        guard let position = queue.firstIndex(where: { $0.key == me.key }), turn(queue, position) == nil,
            try await runningLockDelay(lockDelay, for: me) == nil
        else {
            await abandon(me)
            return nil
        }
        if lockDelay > .zero { try await claimMarker(for: me, session: session) }
        return LockHandle(
            name: name, token: me.token.rawValue, session: session, contender: me, queue: self,
            releaseAlsoDeletes: lockDelay > .zero ? [holderMarker] : [], ownsSession: false)
    }

    /// Once first: while a lost holder's lock-delay runs, wait for its marker to expire; then leave a marker of our
    /// own for the next holder to check.
    private func honourLockDelay(_ delay: Duration, for me: Contender, session: Session, turn: Turn)
        async throws(QuorumClientError)
    {
        while let running = try await runningLockDelay(delay, for: me) {
            let changes = try await client.watch(holderMarker, startRevision: running.modRevision.next)
            do {
                for try await events in changes where events.contains(where: { $0.kind == .delete }) { break }
            } catch {
                // The watch broke: look at the marker again.
            }
            // Our own session may have run out meanwhile.
            _ = try await awaitTurn(of: me, session: session, turn: turn)
        }
        try await claimMarker(for: me, session: session)
    }

    /// The marker of a lock-delay that still blocks `me`, or nil. A marker left by a lost holder (another token, no
    /// lease) starts the delay: it is replaced by one on a lease of the delay's length.
    private func runningLockDelay(_ delay: Duration, for me: Contender) async throws(QuorumClientError) -> KeyValue? {
        guard delay > .zero, let marker = try await client.range(RangeRequest(key: holderMarker)).kvs.first,
            marker.value != me.markerValue
        else { return nil }
        guard marker.lease == nil else { return marker }
        let lease = try await client.grantLease(ttl: delay)
        let started = try await client.transaction(
            TransactionRequest(
                compare: [Comparison(key: holderMarker, .modRevision(marker.modRevision), .equal)],
                success: [.put(PutRequest(key: holderMarker, value: Array("lock-delay".utf8), lease: lease))]))
        // Another contender changed the marker first; its delay (or its release) counts instead.
        if !started.succeeded { try? await client.revokeLease(lease) }
        return try await runningLockDelay(delay, for: me)
    }

    private func claimMarker(for me: Contender, session: Session) async throws(QuorumClientError) {
        let claim = PutRequest(key: holderMarker, value: me.markerValue)
        let response = try await client.transaction(
            TransactionRequest(compare: [me.isStillQueued], success: [.put(claim)], failure: []))
        guard response.succeeded else { throw .sessionLost(session.lease) }
    }
}

/// Runs `operation`, cancelling it and throwing `.lockTimedOut` once `timeout` has passed.
func withDeadline(_ timeout: Duration?, name: String, _ operation: @escaping @Sendable () async throws -> Void)
    async throws(QuorumClientError)
{
    do {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await operation()
                return true
            }
            if let timeout {
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return false
                }
            }
            let finished = try await group.next() ?? false
            group.cancelAll()
            if !finished { throw QuorumClientError.lockTimedOut(name: name) }
        }
    } catch let error as QuorumClientError {
        throw error
    } catch {
        throw .cancelled
    }
}
