/// One record of the replicated log.
public struct Entry: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// Appended by every new leader so that it can commit entries of its own term (Raft §5.4.2).
        case noop
        /// An opaque command for the state machine.
        case command([UInt8])
        /// A single-server membership change; it takes effect as soon as it is in the log (Raft thesis §4.1).
        case configurationChange(ConfigurationChange)
    }

    public var term: Term
    public var index: LogIndex
    public var kind: Kind

    public init(term: Term, index: LogIndex, kind: Kind) {
        self.term = term
        self.index = index
        self.kind = kind
    }


    public var description: String {
        switch kind {
        case .noop: "\(index)@\(term) noop"
        case .command(let bytes): "\(index)@\(term) cmd(\(bytes.count)B)"
        case .configurationChange(let change): "\(index)@\(term) \(change)"
        }
    }
}

/// What must survive a crash besides the log: a vote must never be forgotten within a term.
public struct HardState: Hashable, Sendable {
    public var term: Term
    public var votedFor: NodeID?
    public var commitIndex: LogIndex

    public init(term: Term = 0, votedFor: NodeID? = nil, commitIndex: LogIndex = 0) {
        self.term = term
        self.votedFor = votedFor
        self.commitIndex = commitIndex
    }
}
