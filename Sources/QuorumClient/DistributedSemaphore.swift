import QuorumStore

extension QuorumClient {
    /// Takes one of `permits` permits of `name`, in order of arrival. Every client of one name must agree on
    /// `permits`. The hold's token is fencing as for a lock, but up to `permits` holders are current at once.
    public func acquirePermit(
        _ name: String, permits: Int, session: Session, options: LockOptions = LockOptions()
    ) async throws(QuorumClientError) -> LockHandle {
        precondition(permits > 0, "a semaphore needs at least one permit")
        return try await LockQueue(client: self, kind: "semaphores", name: name).acquire(
            name: name, value: [], session: session, ownsSession: false, options: options,
            turn: { queue, position in
                // Deletions ahead of the blocking contender cannot bring this one under `permits` without the
                // blocker itself reaching the front, so watching from the blocker on misses no chance.
                position < permits ? nil : queue[position - permits].key
            })
    }
}
