/// A place in the store's write history: the first write at or after it. Pages of a watch's history resume here.
public struct HistoryPosition: Hashable, Comparable, Sendable {
    public var revision: Revision
    /// The write's place within its revision (a transaction writes several keys at one revision).
    public var subRevision: UInt32

    public init(revision: Revision, subRevision: UInt32 = 0) {
        self.revision = revision
        self.subRevision = subRevision
    }

    init(_ entry: WriteLogEntry) {
        self.init(revision: entry.revision, subRevision: entry.subRevision)
    }

    public static func < (a: HistoryPosition, b: HistoryPosition) -> Bool {
        (a.revision, a.subRevision) < (b.revision, b.subRevision)
    }
}

/// Part of a watch's history (`KeyValueStore.eventPage`).
public struct EventPage: Sendable {
    public var events: [WatchEvent]
    /// Where the next page starts; nil when this page reached the newest write.
    public var next: HistoryPosition?
}
