import QuorumConsensus

/// Which consensus engine a simulated world runs. Not drawn from the seed: a seed's Raft world stays exactly as it
/// was, and the same seed with `.paxos` draws the same world for Multi-Paxos.
public enum ConsensusKind: String, Sendable, CaseIterable {
    case raft, paxos
}

/// One of the engines, so that the single-group world runs either through the same driver. Every call forwards.
enum SimulatedEngine: ConsensusEngine {
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

    var id: NodeID { read(raft: { $0.id }, paxos: { $0.id }) }
    var role: Role { read(raft: { $0.role }, paxos: { $0.role }) }
    var term: Term { read(raft: { $0.term }, paxos: { $0.term }) }
    var leaderHint: NodeID? { read(raft: { $0.leaderHint }, paxos: { $0.leaderHint }) }
    var commitIndex: LogIndex { read(raft: { $0.commitIndex }, paxos: { $0.commitIndex }) }
    var lastIndex: LogIndex { read(raft: { $0.lastIndex }, paxos: { $0.lastIndex }) }
    var configuration: Configuration { read(raft: { $0.configuration }, paxos: { $0.configuration }) }
    var firstIndex: LogIndex { read(raft: { $0.firstIndex }, paxos: { $0.firstIndex }) }
    var isQuiescent: Bool { read(raft: { $0.isQuiescent }, paxos: { $0.isQuiescent }) }
    var hasReady: Bool { read(raft: { $0.hasReady }, paxos: { $0.hasReady }) }
    func term(at index: LogIndex) -> Term? { read(raft: { $0.term(at: index) }, paxos: { $0.term(at: index) }) }
    func checkInvariants() { read(raft: { $0.checkInvariants() }, paxos: { $0.checkInvariants() }) }

    /// Raft's per-follower replication status on a leader; empty for Multi-Paxos.
    var replicationStatus: [NodeID: ReplicationStatus] {
        if case .raft(let node) = self { node.replicationStatus } else { [:] }
    }

    /// The configuration in force at `index` of a Raft node's log; nil for Multi-Paxos, or before the log's base.
    func configuration(at index: LogIndex) -> Configuration? {
        guard case .raft(let node) = self, index.advanced(by: 1) >= node.firstIndex else { return nil }
        return node.configuration(at: index)
    }

    /// The value a Multi-Paxos node holds at `slot`; nil for Raft.
    func paxosValue(at slot: LogIndex) -> Entry? {
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

    mutating func tick() { mutate(raft: { $0.tick() }, paxos: { $0.tick() }) }

    mutating func step(_ message: Message) throws(StepError) {
        try mutate(
            raft: { (node) throws(StepError) in try node.step(message) },
            paxos: { (node) throws(StepError) in try node.step(message) })
    }

    mutating func propose(_ command: [UInt8]) throws(ProposalError) -> ProposalTicket {
        try mutate(
            raft: { (node) throws(ProposalError) in try node.propose(command) },
            paxos: { (node) throws(ProposalError) in try node.propose(command) })
    }

    mutating func proposeConfigurationChange(_ change: ConfigurationChange) throws(ProposalError) -> ProposalTicket {
        try mutate(
            raft: { (node) throws(ProposalError) in try node.proposeConfigurationChange(change) },
            paxos: { (node) throws(ProposalError) in try node.proposeConfigurationChange(change) })
    }

    mutating func readIndex(requestID: UInt64) throws(ProposalError) {
        try mutate(
            raft: { (node) throws(ProposalError) in try node.readIndex(requestID: requestID) },
            paxos: { (node) throws(ProposalError) in try node.readIndex(requestID: requestID) })
    }

    mutating func transferLeadership(to target: NodeID) throws(ProposalError) {
        try mutate(
            raft: { (node) throws(ProposalError) in try node.transferLeadership(to: target) },
            paxos: { (node) throws(ProposalError) in try node.transferLeadership(to: target) })
    }

    mutating func campaign() { mutate(raft: { $0.campaign() }, paxos: { $0.campaign() }) }
    mutating func wake() { mutate(raft: { $0.wake() }, paxos: { $0.wake() }) }
    mutating func ready() -> Ready { mutate(raft: { $0.ready() }, paxos: { $0.ready() }) }

    mutating func acknowledge(readyNumber: UInt64) {
        mutate(raft: { $0.acknowledge(readyNumber: readyNumber) }, paxos: { $0.acknowledge(readyNumber: readyNumber) })
    }

    mutating func compact(through index: LogIndex, snapshotData: [UInt8]) -> Snapshot {
        mutate(
            raft: { $0.compact(through: index, snapshotData: snapshotData) },
            paxos: { $0.compact(through: index, snapshotData: snapshotData) })
    }
}
