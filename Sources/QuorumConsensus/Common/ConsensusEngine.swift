/// What the node driver, the storage, the simulator and every test need from a consensus engine.
/// Raft implements it; Multi-Paxos will too, so nothing outside the engine depends on which one runs.
///
/// An engine is a value that is stepped, never a thread: every input is a mutating call, every output leaves
/// through `ready()`. Same inputs, same outputs.
public protocol ConsensusEngine: Sendable {
    var id: NodeID { get }
    var role: Role { get }
    var term: Term { get }
    var leaderHint: NodeID? { get }
    var commitIndex: LogIndex { get }
    var lastIndex: LogIndex { get }
    /// The configuration in force: the newest in the log, committed or not.
    var configuration: Configuration { get }
    /// The oldest entry still in the log; earlier ones live only in a snapshot.
    var firstIndex: LogIndex { get }
    /// The term of the entry at `index`, or nil if it was compacted away or is beyond the end.
    func term(at index: LogIndex) -> Term?

    /// Advances logical time by one tick.
    mutating func tick()
    /// Feeds one message from a peer.
    mutating func step(_ message: Message) throws(StepError)
    /// Proposes a command; only a leader accepts.
    mutating func propose(_ command: [UInt8]) throws(ProposalError) -> ProposalTicket
    mutating func proposeConfigurationChange(_ change: ConfigurationChange) throws(ProposalError) -> ProposalTicket
    /// Asks for a linearizable read; the answer arrives as a `ReadState` with this id.
    mutating func readIndex(requestID: UInt64) throws(ProposalError)
    mutating func transferLeadership(to target: NodeID) throws(ProposalError)
    /// Starts an election now, as an election timeout would.
    mutating func campaign()
    /// Whether the group is quiescent here: an idle leader that stopped heartbeating, or a follower that stopped
    /// counting its election timer. A host may skip ticking it, and must run node-level liveness instead.
    var isQuiescent: Bool { get }
    /// Wakes a quiescent node; a no-op otherwise. The host calls it on each quiescent follower whose leader's node
    /// lost liveness or restarted: the follower then campaigns after a normal election timeout unless its leader
    /// speaks first.
    mutating func wake()
    /// The host's node liveness: the peers whose node is silent now. An engine may quiesce past them; nothing else
    /// may depend on it.
    mutating func reportUnreachable(_ peers: Set<NodeID>)

    var hasReady: Bool { get }
    /// Takes the pending outputs. Several Readies may be outstanding at once: storage persists them in order while
    /// the driver takes the next, so that new entries reach the followers without waiting for the previous fsync.
    mutating func ready() -> Ready
    /// Reports that everything in Ready `readyNumber` was persisted. Readies are acknowledged in the order they
    /// were taken, each one.
    mutating func acknowledge(readyNumber: UInt64)
    /// The driver took a snapshot of the state machine at `index` (which it has applied): the engine keeps it
    /// to send to lagging followers and forgets the log before it. Returns the snapshot to persist.
    mutating func compact(through index: LogIndex, snapshotData: [UInt8]) -> Snapshot
    /// Checks internal invariants; the simulator calls it after every step. Traps on violation.
    func checkInvariants()
}

public enum Role: String, Hashable, Sendable {
    case follower, preCandidate, candidate, leader
}

/// Why a message was refused; the message is dropped and nothing changes.
public enum StepError: Error, Hashable, Sendable, CustomStringConvertible {
    case wrongRecipient(NodeID)
    case malformed(String)
    /// Well-formed, but no correct peer sends it: a sign of a bug or a corrupted peer.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .wrongRecipient(let node): "message addressed to \(node) delivered here; check peer addresses"
        case .malformed(let reason): "malformed message: \(reason)"
        case .protocolViolation(let reason): "protocol violation: \(reason)"
        }
    }
}

/// Why a proposal, read or administrative request was refused; each says what to do next.
public enum ProposalError: Error, Hashable, Sendable, CustomStringConvertible {
    case notLeader(leaderHint: NodeID?)
    case leadershipTransferInProgress
    case configurationChangePending
    /// A new leader has not yet committed an entry of its term; membership changes wait for it (thesis §4.1 fix).
    case leaderNotReady
    case invalidConfigurationChange(String)

    public var description: String {
        switch self {
        case .notLeader(let hint?): "not the leader; retry against the leader \(hint)"
        case .notLeader(nil): "not the leader and no leader is known; retry after an election"
        case .leadershipTransferInProgress: "leadership is being transferred; retry shortly"
        case .configurationChangePending: "a membership change is still uncommitted; retry once it commits"
        case .leaderNotReady: "the new leader has not committed an entry of its term yet; retry shortly"
        case .invalidConfigurationChange(let reason): "invalid membership change: \(reason)"
        }
    }
}
