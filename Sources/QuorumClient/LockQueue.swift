import QuorumStore

/// The queue under every lock recipe (mutex, read-write lock, semaphore, election): each contender is a
/// sequential key under `<prefix>q/`, attached to its session's lease, so key order is arrival order and a dead
/// contender's key goes with its lease. A contender waits for a recipe-chosen predecessor only, never for the
/// whole queue, so a release wakes one waiter rather than a herd (the ZooKeeper recipe, on etcd-style watches).
///
/// The fencing token of a contender is its key's create revision: later arrivals are created at later revisions,
/// so the tokens of successive holders of one name only grow.
struct LockQueue: Sendable {
    let client: QuorumClient
    /// `/_quorum/<kind>/<name>/`; the contenders live under `q/`, recipe state (the lock-delay marker) beside.
    let prefix: [UInt8]

    init(client: QuorumClient, kind: String, name: String) {
        self.client = client
        self.prefix = Array("/_quorum/\(kind)/\(name)/".utf8)
    }

    var contendersPrefix: [UInt8] { prefix + Array("q/".utf8) }

    struct Contender: Hashable, Sendable {
        var key: [UInt8]
        var token: Revision
        var value: [UInt8]
    }

    /// Which key a contender must see deleted before it looks again, or nil when its turn has come.
    typealias Turn = @Sendable (_ queue: [Contender], _ position: Int) -> [UInt8]?

    /// Joins the queue at its end.
    func enqueue(value: [UInt8], session: Session) async throws(QuorumClientError) -> Contender {
        let response = try await client.put(
            PutRequest(key: contendersPrefix, value: value, lease: session.lease, sequential: true))
        guard let key = response.sequentialKey else { throw .unexpectedResponse("a sequential put named no key") }
        return Contender(key: key, token: response.revision, value: value)
    }

    /// The contenders in arrival order (linearizable), and the revision they were read at.
    func contenders() async throws(QuorumClientError) -> (queue: [Contender], revision: Revision) {
        try await contenders(linearizable: true)
    }

    /// The contenders as `me` may judge its turn by: any state from `me`'s creation on will do, so a serializable
    /// read (no ReadIndex round) is enough when it is that recent. Contenders ahead of `me` were created before it
    /// and can only leave, never join, so whatever such a state says is blocking `me` either still blocks or has
    /// gone; a turn it grants is never taken back. An older state (a lagging node) is read again linearizably.
    func contenders(asSeenBy me: Contender) async throws(QuorumClientError) -> (queue: [Contender], revision: Revision)
    {
        let recent = try await contenders(linearizable: false)
        return recent.revision >= me.token ? recent : try await contenders(linearizable: true)
    }

    private func contenders(linearizable: Bool) async throws(QuorumClientError)
        -> (queue: [Contender], revision: Revision)
    {
        let response = try await client.range(.prefix(contendersPrefix), linearizable: linearizable)
        let queue = response.kvs.map { Contender(key: $0.key, token: $0.createRevision, value: $0.value) }
        return (queue, response.revision)
    }

    /// Returns once `turn` says it is `me`'s turn, with the queue as it was then. Between looks it watches the keys
    /// from the blocking one up to `me` inclusive, so it also notices its own key vanishing (the session lost).
    func awaitTurn(of me: Contender, session: Session, turn: Turn) async throws(QuorumClientError) -> [Contender] {
        while true {
            if Task.isCancelled { throw .cancelled }
            let (queue, revision) = try await contenders(asSeenBy: me)
            guard let position = queue.firstIndex(where: { $0.key == me.key }) else {
                throw .sessionLost(session.lease)
            }
            guard let blocker = turn(queue, position) else { return queue }
            let changes = try await client.watch(blocker, rangeEnd: me.key + [0], startRevision: revision.next)
            do {
                for try await events in changes where events.contains(where: { $0.kind == .delete }) { break }
            } catch {
                // The watch broke (its node went away, say): look at the queue again, and watch anew.
            }
        }
    }

    /// Leaves the queue (or releases what `me` holds), even from a cancelled task: a key left behind would block
    /// everyone after it until the session ended. Only `me`'s own incarnation of the key is deleted.
    func leave(_ me: Contender, alsoDeleting extra: [[UInt8]] = []) async throws(QuorumClientError) {
        let client = self.client
        let deletions = ([me.key] + extra).map { TransactionOperation.deleteRange(DeleteRangeRequest(key: $0)) }
        let leaving = Task { () async -> Result<Void, QuorumClientError> in
            do throws(QuorumClientError) {
                _ = try await client.transaction(
                    TransactionRequest(compare: [me.isStillQueued], success: deletions, failure: []))
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try await leaving.value.get()
    }

    /// Deletes `me`'s key now (detached from the caller's cancellation), ignoring failures: the lease would end
    /// it anyway. For the paths that are already failing with a more useful error.
    func abandon(_ me: Contender) async {
        try? await leave(me)
    }
}

extension LockQueue.Contender {
    /// Holds while this contender's key still exists as created: a transaction guarded by it succeeds only while
    /// the contender holds its place, which is what a fenced write inside Quorum checks.
    var isStillQueued: Comparison { Comparison(key: key, .createRevision(token), .equal) }

    /// What the lock-delay marker holds while this contender holds the lock.
    var markerValue: [UInt8] { Array(String(token.rawValue).utf8) }
}
