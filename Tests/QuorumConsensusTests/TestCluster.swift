import Testing

@testable import QuorumConsensus

/// Options every unit test starts from: a fixed election timeout of 10 ticks, a heartbeat every tick.
func testOptions(voters: Set<NodeID>, learners: Set<NodeID> = [], seed: UInt64 = 1) -> RaftOptions {
    var options = RaftOptions()
    options.electionTimeoutTicks = 10
    options.heartbeatIntervalTicks = 1
    options.randomSeed = seed
    options.initialConfiguration = Configuration(voters: voters, learners: learners)
    return options
}

/// Builds one engine, failing the test (not trapping) if the options are refused.
func makeNode(
    _ id: NodeID, options: RaftOptions, recovered: RecoveredState = .empty,
    sourceLocation: SourceLocation = #_sourceLocation
) -> RaftNode {
    do {
        return try RaftNode(id: id, options: options, recovered: recovered)
    } catch {
        Issue.record("options refused: \(error)", sourceLocation: sourceLocation)
        preconditionFailure("cannot continue without a node")
    }
}

/// Entries `1...terms.count` with the given terms, as commands carrying their index.
func entries(terms: [UInt64], from first: UInt64 = 1) -> [Entry] {
    terms.enumerated().map { offset, term in
        let index = first + UInt64(offset)
        return Entry(term: Term(term), index: LogIndex(index), kind: .command([UInt8(truncatingIfNeeded: index)]))
    }
}

/// A tiny in-memory cluster: N engines, a FIFO message queue, and a driver that "persists" a Ready by
/// acknowledging it. Messages leave at once; `messagesAfterPersist` leave after the acknowledgement.
///
/// Faults: `isolate` cuts a node off in both directions; `dropWhere` drops any message it matches. Every
/// message that was emitted or delivered is recorded, so tests can count round trips.
struct TestCluster {
    var nodes: [NodeID: RaftNode] = [:]
    var isolated: Set<NodeID> = []
    /// Messages matching this predicate are dropped on delivery.
    var dropWhere: ((Message) -> Bool)?
    /// Messages waiting to be delivered, in send order.
    var inFlight: [Message] = []
    /// Every message delivered (stepped into its recipient), in order.
    var delivered: [Message] = []
    /// Every message dropped by isolation or `dropWhere`.
    var dropped: [Message] = []
    /// Committed entries handed to each node's state machine, in order.
    var applied: [NodeID: [Entry]] = [:]
    /// Read states handed to each node's driver, in order.
    var readStates: [NodeID: [ReadState]] = [:]
    /// Snapshots each node was asked to restore from its leader.
    var restoredSnapshots: [NodeID: [Snapshot]] = [:]
    /// Readies that asked for a snapshot, per node.
    var snapshotRequests: [NodeID: Int] = [:]
    /// Errors from `step`; a correct cluster produces none.
    var stepErrors: [StepError] = []

    var ids: [NodeID] { nodes.keys.sorted() }

    /// `count` voters with ids `1...count`, each seeded by its id.
    init(voters count: Int, configure: (inout RaftOptions) -> Void = { _ in }) {
        let voters = Set((1...count).map { NodeID(UInt64($0)) })
        for id in voters {
            var options = testOptions(voters: voters, seed: id.rawValue)
            configure(&options)
            nodes[id] = makeNode(id, options: options)
        }
    }

    /// Nodes built by the caller, for recovered logs or unusual configurations.
    init(nodes: [RaftNode]) {
        for node in nodes { self.nodes[node.id] = node }
    }

    subscript(_ id: NodeID) -> RaftNode {
        get { nodes[id]! }
        set { nodes[id] = newValue }
    }

    /// The unique leader with the highest term, if any.
    var leader: NodeID? {
        let leaders = ids.filter { nodes[$0]!.role == .leader }
        return leaders.max { nodes[$0]!.term < nodes[$1]!.term }
    }

    func isCut(_ message: Message) -> Bool {
        isolated.contains(message.from) || isolated.contains(message.to) || (dropWhere?(message) ?? false)
    }

    /// Takes and "persists" one Ready from `id`, queueing its messages. Returns the Ready for inspection.
    @discardableResult
    mutating func processReady(_ id: NodeID) -> Ready {
        let ready = nodes[id]!.ready()
        inFlight.append(contentsOf: ready.messages)
        if let snapshot = ready.snapshot { restoredSnapshots[id, default: []].append(snapshot) }
        applied[id, default: []].append(contentsOf: ready.committedEntries)
        readStates[id, default: []].append(contentsOf: ready.readStates)
        if ready.snapshotRequested { snapshotRequests[id, default: 0] += 1 }
        nodes[id]!.acknowledge(readyNumber: ready.number)
        inFlight.append(contentsOf: ready.messagesAfterPersist)
        return ready
    }

    /// Steps one message into its recipient, unless a fault drops it.
    mutating func deliver(_ message: Message) {
        guard nodes[message.to] != nil, !isCut(message) else {
            dropped.append(message)
            return
        }
        delivered.append(message)
        do {
            try nodes[message.to]!.step(message)
        } catch {
            stepErrors.append(error)
            Issue.record("\(message.to) refused \(message): \(error)")
        }
        nodes[message.to]!.checkInvariants()
    }

    /// Delivers everything queued now (not what that produces).
    mutating func deliverInFlight() {
        let batch = inFlight
        inFlight.removeAll()
        for message in batch { deliver(message) }
    }

    /// Processes Readies and delivers messages until the cluster is quiet.
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

    /// Ticks `id` `times` times, stabilizing after each tick.
    mutating func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times {
            nodes[id]!.tick()
            stabilize()
        }
    }

    /// Ticks every node `times` times, stabilizing after each round.
    mutating func tickAll(times: Int = 1) {
        for _ in 0..<times {
            for id in ids { nodes[id]!.tick() }
            stabilize()
        }
    }

    /// One leader tick: a heartbeat round that also carries the commit index to followers.
    mutating func heartbeat() {
        guard let leader else { return }
        tick(leader)
    }

    /// Makes `id` campaign and stabilizes; records an issue unless it won.
    mutating func elect(_ id: NodeID, sourceLocation: SourceLocation = #_sourceLocation) {
        nodes[id]!.campaign()
        stabilize()
        #expect(nodes[id]!.role == .leader, "\(id) did not win its election", sourceLocation: sourceLocation)
        heartbeat()
    }

    /// Proposes a command on the leader (recording an issue if refused) and stabilizes.
    @discardableResult
    mutating func propose(
        _ command: [UInt8] = [1], on id: NodeID? = nil, sourceLocation: SourceLocation = #_sourceLocation
    )
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

    /// Entries of `id`'s log from `firstIndex` through `lastIndex`.
    func log(of id: NodeID) -> [Entry] {
        let node = nodes[id]!
        guard node.firstIndex <= node.lastIndex else { return [] }
        return node.log.entries(from: node.firstIndex, through: node.lastIndex)
    }

    /// Messages delivered from `from` to `to` whose payload matches.
    func deliveredMessages(from: NodeID? = nil, to: NodeID? = nil, where matches: (Message.Payload) -> Bool)
        -> [Message]
    {
        delivered.filter { (from == nil || $0.from == from) && (to == nil || $0.to == to) && matches($0.payload) }
    }
}

extension Message.Payload {
    var isAppend: Bool { if case .appendEntries = self { true } else { false } }
    var isAppendResponse: Bool { if case .appendEntriesResponse = self { true } else { false } }
    var isRejection: Bool { if case .appendEntriesResponse(.rejected) = self { true } else { false } }
    var isHeartbeat: Bool { if case .heartbeat = self { true } else { false } }
    var isReadIndexRequest: Bool { if case .readIndexRequest = self { true } else { false } }
    var isSnapshot: Bool { if case .installSnapshot = self { true } else { false } }
    var isTimeoutNow: Bool { if case .timeoutNow = self { true } else { false } }
    var isVoteRequest: Bool { if case .requestVote(let request) = self { !request.isPreVote } else { false } }
    var isPreVoteRequest: Bool { if case .requestVote(let request) = self { request.isPreVote } else { false } }
    var isVoteResponse: Bool { if case .requestVoteResponse = self { true } else { false } }
    var appendedEntries: [Entry] { if case .appendEntries(let append) = self { append.entries } else { [] } }
}

/// What an outsider can observe of a node: equal before and after a refused message means nothing changed.
struct Observable: Equatable, CustomStringConvertible {
    var role: Role
    var term: Term
    var votedFor: NodeID?
    var leaderHint: NodeID?
    var commitIndex: LogIndex
    var lastIndex: LogIndex
    var lastTerm: Term
    var electionElapsed: Int
    var hasReady: Bool
    var configuration: Configuration

    init(_ node: RaftNode) {
        role = node.role
        term = node.term
        votedFor = node.votedFor
        leaderHint = node.leaderHint
        commitIndex = node.commitIndex
        lastIndex = node.lastIndex
        lastTerm = node.log.lastTerm
        electionElapsed = node.electionElapsed
        hasReady = node.hasReady
        configuration = node.configuration
    }

    var description: String {
        "\(role) \(term) vote \(votedFor.map(\.description) ?? "-") leader \(leaderHint.map(\.description) ?? "-") "
            + "commit \(commitIndex) last \(lastIndex)@\(lastTerm) elapsed \(electionElapsed) ready \(hasReady)"
    }
}

/// Steps a message and records an issue if it was refused.
func step(_ node: inout RaftNode, _ message: Message, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try node.step(message)
    } catch {
        Issue.record("refused \(message): \(error)", sourceLocation: sourceLocation)
    }
}

/// Takes a Ready and acknowledges it at once, as a driver with an instant disk would.
@discardableResult
func drain(_ node: inout RaftNode) -> Ready {
    let ready = node.ready()
    node.acknowledge(readyNumber: ready.number)
    return ready
}

/// Builds a node that already leads a cluster of `voters` at term 1 (its no-op at index 1 is durable but not
/// yet committed), by feeding it the votes it needs.
func makeLeader(
    _ id: NodeID = 1, voters: Set<NodeID>, learners: Set<NodeID> = [], configure: (inout RaftOptions) -> Void = { _ in }
) -> RaftNode {
    var options = testOptions(voters: voters, learners: learners, seed: id.rawValue)
    options.preVote = false
    configure(&options)
    var node = makeNode(id, options: options)
    node.campaign()
    for voter in voters.sorted() where voter != id && node.role != .leader {
        step(
            &node,
            Message(
                from: voter, to: id, term: node.term, payload: .requestVoteResponse(granted: true, isPreVote: false)))
    }
    precondition(node.role == .leader, "test setup: \(id) should lead")
    drain(&node)
    return node
}
