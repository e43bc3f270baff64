/// A state machine image that replaces the log up to and including `lastIncludedIndex`.
public struct Snapshot: Hashable, Sendable {
    public var lastIncludedIndex: LogIndex
    public var lastIncludedTerm: Term
    /// The configuration in force at `lastIncludedIndex`.
    public var configuration: Configuration
    /// Opaque bytes produced by the state machine.
    public var data: [UInt8]

    public init(lastIncludedIndex: LogIndex, lastIncludedTerm: Term, configuration: Configuration, data: [UInt8]) {
        self.lastIncludedIndex = lastIncludedIndex
        self.lastIncludedTerm = lastIncludedTerm
        self.configuration = configuration
        self.data = data
    }
}
