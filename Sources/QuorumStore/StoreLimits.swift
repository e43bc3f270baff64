/// Size limits checked by the codec before it allocates and by the store before it applies. Every replica must
/// use the same limits, so they belong in the group's configuration, not in per-node flags.
public struct StoreLimits: Hashable, Sendable {
    public var keyBytesMax: Int
    /// etcd's default request limit is 1.5 MiB; a value may use all of it.
    public var valueBytesMax: Int
    /// Whole encoded command (etcd's `--max-request-bytes` plus room for framing).
    public var commandBytesMax: Int
    /// Operations in one transaction, counting nested ones (etcd's `--max-txn-ops` defaults to 128).
    public var transactionOperationsMax: Int
    public var transactionDepthMax: Int
    /// Sessions kept for exactly-once writes; see `KeyValueStore` for the eviction rule.
    public var sessionsMax: Int
    /// Compaction work (revision-log entries) done after each applied command; bounds the pause per command.
    public var compactionStepsPerCommand: Int

    public init(
        keyBytesMax: Int = 4096,
        valueBytesMax: Int = 1536 * 1024,
        commandBytesMax: Int = 1536 * 1024 + 64 * 1024,
        transactionOperationsMax: Int = 128,
        transactionDepthMax: Int = 8,
        sessionsMax: Int = 10_000,
        compactionStepsPerCommand: Int = 256
    ) {
        self.keyBytesMax = keyBytesMax
        self.valueBytesMax = valueBytesMax
        self.commandBytesMax = commandBytesMax
        self.transactionOperationsMax = transactionOperationsMax
        self.transactionDepthMax = transactionDepthMax
        self.sessionsMax = sessionsMax
        self.compactionStepsPerCommand = compactionStepsPerCommand
    }

    public static let `default` = StoreLimits()
}
