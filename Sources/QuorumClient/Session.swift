import QuorumStore

/// A lease that this process keeps alive in the background: the liveness behind ephemeral keys, locks,
/// elections and service registrations. If the process dies or stalls past the TTL, the leader revokes the lease
/// and every key attached to it goes, which is what hands a dead holder's lock to the next waiter.
///
/// A session that cannot renew (its lease already expired, say after a long pause) is *lost*: `isLost` turns
/// true and `lost()` returns. Anything held through it must be treated as gone; a fencing token makes sure a
/// holder that has not noticed yet cannot do harm.
public final class Session: Sendable {
    public let lease: LeaseID
    public let ttl: Duration
    let client: QuorumClient
    private let state: SessionState
    private let renewal: Task<Void, Never>

    /// Grants a lease of `ttl` (milliseconds count) and starts renewing it every third of the TTL.
    public init(client: QuorumClient, ttl: Duration = .seconds(10)) async throws(QuorumClientError) {
        let lease = try await client.grantLease(ttl: ttl)
        let state = SessionState()
        self.lease = lease
        self.ttl = ttl
        self.client = client
        self.state = state
        renewal = Task {
            let interval = max(ttl / 3, .milliseconds(50))
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                do throws(QuorumClientError) {
                    try await client.keepAlive(lease)
                } catch {
                    // Only the store saying the lease is gone is final; an unreachable cluster may come back
                    // within the TTL, so keep trying until then.
                    if case .store(.leaseNotFound) = error {
                        await state.markLost()
                        return
                    }
                }
            }
        }
    }

    public var isLost: Bool { get async { await state.isLost } }

    /// Returns once the session is lost (its lease expired or was revoked); never if it is closed or abandoned first.
    public func lost() async { await state.awaitLoss() }

    /// Stops renewing and revokes the lease, which deletes every key attached to it (releasing its locks).
    public func close() async throws(QuorumClientError) {
        renewal.cancel()
        do throws(QuorumClientError) {
            try await client.revokeLease(lease)
        } catch {
            if case .store(.leaseNotFound) = error { return }
            throw error
        }
    }

    /// Stops renewing without revoking: the lease runs out its TTL. For a holder that wants to vanish as a crashed
    /// one would (tests, and handing a lock over only after the TTL).
    public func abandon() { renewal.cancel() }

    deinit { renewal.cancel() }
}

private actor SessionState {
    private(set) var isLost = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func markLost() {
        isLost = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    func awaitLoss() async {
        if isLost { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}
