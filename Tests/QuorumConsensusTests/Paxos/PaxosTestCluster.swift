import Testing

@testable import QuorumConsensus

/// Options every Multi-Paxos unit test starts from: an election timeout of 10 ticks, a heartbeat every tick.
func paxosOptions(voters: Set<NodeID>, seed: UInt64 = 1) -> PaxosOptions {
    var options = PaxosOptions()
    options.electionTimeoutTicks = 10
    options.heartbeatIntervalTicks = 1
    options.randomSeed = seed
    options.initialConfiguration = Configuration(voters: voters)
    return options
}

func makePaxosNode(
    _ id: NodeID, options: PaxosOptions, recovered: RecoveredState = .empty,
    sourceLocation: SourceLocation = #_sourceLocation
) -> MultiPaxosNode {
    do {
        return try MultiPaxosNode(id: id, options: options, recovered: recovered)
    } catch {
        Issue.record("options refused: \(error)", sourceLocation: sourceLocation)
        preconditionFailure("cannot continue without a node")
    }
}

/// What a node's storage holds, with the semantics of `Ready`: a snapshot restarts the log after it, an entry
/// replaces every stored entry at or after its index, the newest hard state wins.
struct PaxosDisk {
    var state = RecoveredState()

    mutating func write(_ ready: Ready, keepingEntries kept: Int? = nil) {
        if let snapshot = ready.snapshot, kept == nil {
            state.snapshot = snapshot
            state.entries.removeAll()
        }
        let entries = kept.map { Array(ready.entries.prefix($0)) } ?? ready.entries
        if let first = entries.first {
            state.entries.removeAll { $0.index >= first.index }
            state.entries += entries
        }
        if let hardState = ready.hardState, kept == nil { state.hardState = hardState }
    }
}

/// A tiny in-memory Multi-Paxos cluster: N engines, a FIFO message queue, and a driver that persists a Ready to its
/// node's `PaxosDisk` and acknowledges it. Messages leave at once; `messagesAfterPersist` leave after the write.
struct PaxosCluster {
    var nodes: [NodeID: MultiPaxosNode] = [:]
    var disks: [NodeID: PaxosDisk] = [:]
    var options: [NodeID: PaxosOptions] = [:]
    var isolated: Set<NodeID> = []
    var dropWhere: ((Message) -> Bool)?
    var inFlight: [Message] = []
    var delivered: [Message] = []
    var applied: [NodeID: [Entry]] = [:]
    var readStates: [NodeID: [ReadState]] = [:]
    var restoredSnapshots: [NodeID: [Snapshot]] = [:]
    var snapshotRequests: [NodeID: Int] = [:]

    var ids: [NodeID] { nodes.keys.sorted() }

    init(voters count: Int, configure: (inout PaxosOptions) -> Void = { _ in }) {
        let voters = Set((1...count).map { NodeID(UInt64($0)) })
        for id in voters {
            var options = paxosOptions(voters: voters, seed: id.rawValue)
            configure(&options)
            self.options[id] = options
            nodes[id] = makePaxosNode(id, options: options)
            disks[id] = PaxosDisk()
        }
    }

    subscript(_ id: NodeID) -> MultiPaxosNode {
        get { nodes[id]! }
        set { nodes[id] = newValue }
    }

    var leader: NodeID? {
        ids.filter { nodes[$0]!.role == .leader }.max { nodes[$0]!.term < nodes[$1]!.term }
    }

    func isCut(_ message: Message) -> Bool {
        isolated.contains(message.from) || isolated.contains(message.to) || (dropWhere?(message) ?? false)
    }

    /// Takes one Ready from `id`, sends its messages, persists it and acknowledges it, then sends what waited.
    @discardableResult
    mutating func processReady(_ id: NodeID) -> Ready {
        let ready = nodes[id]!.ready()
        inFlight.append(contentsOf: ready.messages)
        if let snapshot = ready.snapshot { restoredSnapshots[id, default: []].append(snapshot) }
        applied[id, default: []].append(contentsOf: ready.committedEntries)
        readStates[id, default: []].append(contentsOf: ready.readStates)
        if ready.snapshotRequested {
            snapshotRequests[id, default: 0] += 1
            let index = nodes[id]!.appliedIndex
            let snapshot = nodes[id]!.compact(through: index, snapshotData: [UInt8(truncatingIfNeeded: index.rawValue)])
            if snapshot.lastIncludedIndex > (disks[id]!.state.snapshot?.lastIncludedIndex ?? 0) {
                disks[id]!.state.snapshot = snapshot
                disks[id]!.state.entries.removeAll { $0.index <= snapshot.lastIncludedIndex }
            }
        }
        disks[id]!.write(ready)
        nodes[id]!.acknowledge(readyNumber: ready.number)
        inFlight.append(contentsOf: ready.messagesAfterPersist)
        return ready
    }

    mutating func deliver(_ message: Message) {
        guard nodes[message.to] != nil, !isCut(message) else { return }
        delivered.append(message)
        do {
            try nodes[message.to]!.step(message)
        } catch {
            Issue.record("\(message.to) refused \(message): \(error)")
        }
        nodes[message.to]!.checkInvariants()
    }

    mutating func deliverInFlight() {
        let batch = inFlight
        inFlight.removeAll()
        for message in batch { deliver(message) }
    }

    mutating func stabilize(sourceLocation: SourceLocation = #_sourceLocation) {
        for _ in 0..<10_000 {
            var progressed = false
            for id in ids where nodes[id]!.hasReady {
                processReady(id)
                progressed = true
            }
            if !inFlight.isEmpty {
                deliverInFlight()
                progressed = true
            }
            if !progressed { return }
        }
        Issue.record("cluster did not stabilize", sourceLocation: sourceLocation)
    }

    mutating func tickAll(times: Int = 1) {
        for _ in 0..<times {
            for id in ids { nodes[id]!.tick() }
            stabilize()
        }
    }

    mutating func heartbeat() {
        guard let leader else { return }
        nodes[leader]!.tick()
        stabilize()
    }

    mutating func elect(_ id: NodeID, sourceLocation: SourceLocation = #_sourceLocation) {
        nodes[id]!.campaign()
        stabilize()
        #expect(nodes[id]!.role == .leader, "\(id) did not take over", sourceLocation: sourceLocation)
        heartbeat()
    }

    @discardableResult
    mutating func propose(_ command: [UInt8] = [1], on id: NodeID? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        -> ProposalTicket?
    {
        let target = id ?? leader!
        do {
            let ticket = try nodes[target]!.propose(command)
            stabilize()
            return ticket
        } catch {
            Issue.record("proposal refused: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// Crashes `id` (losing nothing that was acknowledged) and starts it again from its disk.
    mutating func restart(_ id: NodeID) {
        nodes[id] = makePaxosNode(id, options: options[id]!, recovered: disks[id]!.state)
    }

    /// The commands `id` applied, in order (no-ops left out).
    func appliedCommands(_ id: NodeID) -> [[UInt8]] {
        (applied[id] ?? []).compactMap { if case .command(let bytes) = $0.kind { bytes } else { nil } }
    }
}

/// Steps a message into a lone node, recording an issue if it was refused.
func step(_ node: inout MultiPaxosNode, _ message: Message, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try node.step(message)
    } catch {
        Issue.record("refused \(message): \(error)", sourceLocation: sourceLocation)
    }
    node.checkInvariants()
}

@discardableResult
func drain(_ node: inout MultiPaxosNode) -> Ready {
    let ready = node.ready()
    node.acknowledge(readyNumber: ready.number)
    return ready
}

func paxos(_ from: NodeID, _ to: NodeID, round: Term, _ payload: PaxosMessage) -> Message {
    Message(from: from, to: to, term: round, payload: .paxos(payload))
}

extension Message {
    var paxosPayload: PaxosMessage? { if case .paxos(let payload) = payload { payload } else { nil } }
    var isPrepare: Bool { if case .prepare = paxosPayload { true } else { false } }
    var isPromise: Bool { if case .promise = paxosPayload { true } else { false } }
    var isAccepted: Bool { if case .accepted = paxosPayload { true } else { false } }
    var isPaxosSnapshot: Bool { if case .snapshot = paxosPayload { true } else { false } }
}
