/// Which consensus engine a cluster runs; chosen when it is founded and kept with its data.
public enum ConsensusKind: String, Sendable, CaseIterable {
    case raft, paxos
}

/// One of the engines, so that the server and the simulator run either through the same driver. Every call
/// forwards.
public enum SelectedEngine: ConsensusEngine {
    case raft(RaftNode)
    case paxos(MultiPaxosNode)
    /// Only while a call mutates the engine taken out of the value, so that it is not copied on write.
    case moved

    private func read<Value>(raft: (RaftNode) -> Value, paxos: (MultiPaxosNode) -> Value) -> Value {
        switch self {
        case .raft(let node): raft(node)
        case .paxos(let node): paxos(node)
        case .moved: preconditionFailure("engine in use")
        }
    }

    public var id: NodeID { read(raft: { $0.id }, paxos: { $0.id }) }
    public var role: Role { read(raft: { $0.role }, paxos: { $0.role }) }
    public var term: Term { read(raft: { $0.term }, paxos: { $0.term }) }
    public var leaderHint: NodeID? { read(raft: { $0.leaderHint }, paxos: { $0.leaderHint }) }
    public var commitIndex: LogIndex { read(raft: { $0.commitIndex }, paxos: { $0.commitIndex }) }
    public var lastIndex: LogIndex { read(raft: { $0.lastIndex }, paxos: { $0.lastIndex }) }
    public var configuration: Configuration { read(raft: { $0.configuration }, paxos: { $0.configuration }) }
    public var firstIndex: LogIndex { read(raft: { $0.firstIndex }, paxos: { $0.firstIndex }) }
    public var isQuiescent: Bool { read(raft: { $0.isQuiescent }, paxos: { $0.isQuiescent }) }
    public var hasReady: Bool { read(raft: { $0.hasReady }, paxos: { $0.hasReady }) }
    public func term(at index: LogIndex) -> Term? { read(raft: { $0.term(at: index) }, paxos: { $0.term(at: index) }) }
    public func checkInvariants() { read(raft: { $0.checkInvariants() }, paxos: { $0.checkInvariants() }) }

    /// The term of the newest leadership this node followed or held: Raft's term; for Multi-Paxos the round of the
    /// newest ballot it followed or led, which, unlike its promised round, its own unanswered campaigns do not raise.
    public var leadershipTerm: Term { read(raft: { $0.term }, paxos: { $0.leadershipRound }) }

    /// A leader's view of how far each follower has caught up.
    public var replicationStatus: [NodeID: ReplicationStatus] {
        read(raft: { $0.replicationStatus }, paxos: { $0.replicationStatus })
    }

    /// The newest committed configuration and the index it is at.
    public var committedConfiguration: (index: LogIndex, configuration: Configuration) {
        read(raft: { $0.committedConfiguration }, paxos: { $0.committedConfiguration })
    }

    /// The configuration in force at `index` of a Raft node's log (nil before the log's base), or the one governing
    /// slot `index` of a Multi-Paxos node's.
    package func configuration(at index: LogIndex) -> Configuration? {
        switch self {
        case .raft(let node): index.advanced(by: 1) >= node.firstIndex ? node.configuration(at: index) : nil
        case .paxos(let node): node.configuration(at: index)
        case .moved: preconditionFailure("engine in use")
        }
    }

    /// The value a Multi-Paxos node holds at `slot`; nil for Raft.
    package func paxosValue(at slot: LogIndex) -> Entry? {
        if case .paxos(let node) = self { node.value(at: slot) } else { nil }
    }

    private mutating func mutate<Result, Failure: Error>(
        raft: (inout RaftNode) throws(Failure) -> Result, paxos: (inout MultiPaxosNode) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        switch self {
        case .raft(var node):
            self = .moved
            defer { self = .raft(node) }
            return try raft(&node)
        case .paxos(var node):
            self = .moved
            defer { self = .paxos(node) }
            return try paxos(&node)
        case .moved:
            preconditionFailure("engine in use")
        }
    }

    public mutating func tick() { mutate(raft: { $0.tick() }, paxos: { $0.tick() }) }

    public mutating func step(_ message: Message) throws(StepError) {
        try mutate(
            raft: { (node) throws(StepError) in try node.step(message) },
            paxos: { (node) throws(StepError) in try node.step(message) })
    }

    public mutating func propose(_ command: [UInt8]) throws(ProposalError) -> ProposalTicket {
        try mutate(
            raft: { (node) throws(ProposalError) in try node.propose(command) },
            paxos: { (node) throws(ProposalError) in try node.propose(command) })
    }

    public mutating func proposeConfigurationChange(_ change: ConfigurationChange) throws(ProposalError)
        -> ProposalTicket
    {
        try mutate(
            raft: { (node) throws(ProposalError) in try node.proposeConfigurationChange(change) },
            paxos: { (node) throws(ProposalError) in try node.proposeConfigurationChange(change) })
    }

    public mutating func readIndex(requestID: UInt64) throws(ProposalError) {
        try mutate(
            raft: { (node) throws(ProposalError) in try node.readIndex(requestID: requestID) },
            paxos: { (node) throws(ProposalError) in try node.readIndex(requestID: requestID) })
    }

    public mutating func transferLeadership(to target: NodeID) throws(ProposalError) {
        try mutate(
            raft: { (node) throws(ProposalError) in try node.transferLeadership(to: target) },
            paxos: { (node) throws(ProposalError) in try node.transferLeadership(to: target) })
    }

    public mutating func campaign() { mutate(raft: { $0.campaign() }, paxos: { $0.campaign() }) }
    public mutating func wake() { mutate(raft: { $0.wake() }, paxos: { $0.wake() }) }
    public mutating func reportUnreachable(_ peers: Set<NodeID>) {
        mutate(raft: { $0.reportUnreachable(peers) }, paxos: { $0.reportUnreachable(peers) })
    }
    public mutating func ready() -> Ready { mutate(raft: { $0.ready() }, paxos: { $0.ready() }) }

    public mutating func acknowledge(readyNumber: UInt64) {
        mutate(raft: { $0.acknowledge(readyNumber: readyNumber) }, paxos: { $0.acknowledge(readyNumber: readyNumber) })
    }

    public mutating func compact(through index: LogIndex, snapshotData: [UInt8]) -> Snapshot {
        mutate(
            raft: { $0.compact(through: index, snapshotData: snapshotData) },
            paxos: { $0.compact(through: index, snapshotData: snapshotData) })
    }
}
