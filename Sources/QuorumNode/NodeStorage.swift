import QuorumConsensus

/// What one Ready asks storage to make durable, in this order: snapshot, entries, hard state.
public struct PersistBatch: Sendable {
    public var readyNumber: UInt64
    public var snapshot: Snapshot?
    /// Replaces any stored entry at or after the first one's index.
    public var entries: [Entry]
    public var hardState: HardState?
    /// Whether storage keeps its entries after `snapshot` (dropping only those it covers) rather than restarting
    /// the log after it; see `Ready.keepsEntriesAfterSnapshot`.
    public var keepsEntriesAfterSnapshot: Bool
    /// Whether an fsync is needed before completion (a vote, term or entry must not be lost).
    public var mustSync: Bool

    public init(
        readyNumber: UInt64, snapshot: Snapshot?, entries: [Entry], hardState: HardState?, mustSync: Bool,
        keepsEntriesAfterSnapshot: Bool = false
    ) {
        self.readyNumber = readyNumber
        self.snapshot = snapshot
        self.entries = entries
        self.hardState = hardState
        self.mustSync = mustSync
        self.keepsEntriesAfterSnapshot = keepsEntriesAfterSnapshot
    }

    public var isEmpty: Bool { snapshot == nil && entries.isEmpty && hardState == nil }
}

/// Durable storage for one consensus group. The real one writes a WAL with group commit on an fsync thread;
/// the simulator's loses whatever was not yet synced when a node crashes.
public protocol NodeStorage: AnyObject {
    /// Starts persisting `batch`. When it is durable, the host calls `NodeDriver.persisted(readyNumber:)` on
    /// the driver's executor; until then the driver sends nothing that promises it.
    func persist(_ batch: PersistBatch)
    /// Stores a snapshot the driver took of its own state machine; the log before it may then be dropped.
    func saveSnapshot(_ snapshot: Snapshot)
}

/// Sends messages to peers. Delivery is best effort: Raft tolerates loss, duplication and reordering.
public protocol MessageTransport: AnyObject {
    func send(_ messages: [Message])
}

/// The deterministic state machine a group replicates.
public protocol ReplicatedStateMachine {
    associatedtype Output: Sendable
    /// Applies one committed entry; returns nil for entries that carry no command. Must be deterministic:
    /// every replica produces the same output.
    mutating func apply(_ entry: Entry) -> Output?
    /// The state to snapshot, captured cheaply (a copy-on-write value), so that serialising it can happen later
    /// and elsewhere while the machine keeps applying.
    associatedtype SnapshotImage: Sendable
    func snapshotImage() -> SnapshotImage
    /// The bytes of an image; `restore(from:)` reads them back. Pure: safe to run on any thread.
    static func serialize(_ image: SnapshotImage) -> [UInt8]
    mutating func restore(from snapshot: [UInt8])
}
