import QuorumStore

/// Who leads an election: the value the leader proclaimed and its fencing token (the term of its leadership:
/// larger for every later leader, so a deposed leader's writes can be refused).
public struct Leader: Hashable, Sendable {
    public var value: [UInt8]
    public var token: UInt64
}

/// A won election: the hold on the leadership, and proclaiming new values while it lasts.
public struct Leadership: Sendable {
    public let hold: LockHandle
    public var token: UInt64 { hold.token }

    /// Replaces the value observers see, only while still the leader (else `.sessionLost`).
    public func proclaim(_ value: [UInt8]) async throws(QuorumClientError) {
        let update = PutRequest(key: hold.contender.key, value: value, ignoreLease: true)
        _ = try await hold.fencedTransaction(TransactionRequest(compare: [], success: [.put(update)]))
    }

    /// Steps down: the next candidate in line becomes the leader.
    public func resign() async throws(QuorumClientError) { try await hold.unlock() }
}

extension QuorumClient {
    /// Stands for election `name` with `value` and returns once this candidate leads. Candidates lead in order of
    /// arrival; a leader whose session ends is replaced by the next one.
    public func campaign(_ name: String, value: [UInt8], session: Session, timeout: Duration? = nil)
        async throws(QuorumClientError) -> Leadership
    {
        let hold = try await LockQueue(client: self, kind: "elections", name: name).acquire(
            name: name, value: value, session: session, ownsSession: false, options: LockOptions(timeout: timeout),
            turn: Self.exclusiveTurn)
        return Leadership(hold: hold)
    }

    /// The current leader of `name` (linearizable), or nil when nobody stands.
    public func leader(of name: String) async throws(QuorumClientError) -> Leader? {
        let queue = LockQueue(client: self, kind: "elections", name: name)
        return try await queue.contenders().queue.first.map { Leader(value: $0.value, token: $0.token.rawValue) }
    }

    /// The leader of `name` now and after every change (a new leader or a proclaimed value), for as long as the
    /// stream is iterated; nil while nobody stands. Consecutive repeats are left out.
    public nonisolated func observeLeader(of name: String) -> AsyncThrowingStream<Leader?, any Error> {
        let queue = LockQueue(client: self, kind: "elections", name: name)
        return AsyncThrowingStream { continuation in
            let observing = Task {
                var last: Leader?? = .none
                while !Task.isCancelled {
                    do {
                        let (contenders, revision) = try await queue.contenders()
                        let leader = contenders.first.map { Leader(value: $0.value, token: $0.token.rawValue) }
                        if last != .some(leader) {
                            continuation.yield(leader)
                            last = .some(leader)
                        }
                        let prefix = queue.contendersPrefix
                        let changes = try await watch(
                            prefix, rangeEnd: KeyRange.prefixEnd(of: prefix), startRevision: revision.next)
                        // Any change under the prefix may change the leader or its value: look again.
                        for try await _ in changes { break }
                    } catch {
                        // A broken watch or an unreachable node: look again (the client retries and backs off).
                        // Cancellation ends the loop by its condition.
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in observing.cancel() }
        }
    }
}
