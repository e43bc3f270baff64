import QuorumStore

extension QuorumClient {
    /// Holds `name` for reading: any number of readers at once, none while a writer holds it or waits ahead of
    /// this reader (so a steady stream of readers cannot starve a writer). A reader waits only for the last writer
    /// ahead of it.
    public func readLock(_ name: String, session: Session, options: LockOptions = LockOptions())
        async throws(QuorumClientError) -> LockHandle
    {
        try await LockQueue(client: self, kind: "rwlocks", name: name).acquire(
            name: name, value: ReadWriteMode.read, session: session, ownsSession: false, options: options,
            turn: Self.readerTurn)
    }

    /// Holds `name` for writing: alone, once every reader and writer ahead of it has released.
    public func writeLock(_ name: String, session: Session, options: LockOptions = LockOptions())
        async throws(QuorumClientError) -> LockHandle
    {
        try await LockQueue(client: self, kind: "rwlocks", name: name).acquire(
            name: name, value: ReadWriteMode.write, session: session, ownsSession: false, options: options,
            turn: Self.exclusiveTurn)
    }

    static let readerTurn: LockQueue.Turn = { queue, position in
        queue[..<position].last(where: { $0.value == ReadWriteMode.write })?.key
    }
}

/// What a read-write lock's contender stores as its value.
enum ReadWriteMode {
    static let read = Array("read".utf8)
    static let write = Array("write".utf8)
}
