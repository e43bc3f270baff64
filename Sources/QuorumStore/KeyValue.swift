/// One version of one key, as a read returns it (etcd's `mvccpb.KeyValue`).
public struct KeyValue: Hashable, Sendable {
    public var key: [UInt8]
    /// Empty when the read asked for keys only.
    public var value: [UInt8]
    /// The revision of the put that created this key since it was last deleted.
    public var createRevision: Revision
    /// The revision of the latest write to this key.
    public var modRevision: Revision
    /// How many puts since creation: 1 after the creating put; reset by a delete.
    public var version: UInt64
    public var lease: LeaseID?

    public init(
        key: [UInt8], value: [UInt8], createRevision: Revision, modRevision: Revision, version: UInt64,
        lease: LeaseID? = nil
    ) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// A change a write produced, for watchers. Its revision is `kv.modRevision`.
public struct WatchEvent: Hashable, Sendable {
    public enum Kind: UInt8, Sendable { case put = 0, delete = 1 }
    public var kind: Kind
    /// For a delete: the key, its deletion revision as `modRevision`, and zeros elsewhere (as etcd reports it).
    public var kv: KeyValue
    /// The version before this write, if the key existed.
    public var prevKV: KeyValue?

    public init(kind: Kind, kv: KeyValue, prevKV: KeyValue?) {
        self.kind = kind
        self.kv = kv
        self.prevKV = prevKV
    }

    public var revision: Revision { kv.modRevision }
}
