import NIOCore
import QuorumConsensus
import QuorumStore
import QuorumWire

/// What the Redis port needs of a node, on the node's event loop: the same reads and writes a binary or HTTP
/// client makes, so every rule (leadership, ReadIndex, reserved keys, the leader's lease clock) stays in the
/// runtime. A protocol so that the command semantics can be tested against an in-memory store.
protocol RedisBackend: AnyObject, Sendable {
    /// A range read with the deadlines of the leases its keys hold (`NodeRuntime.readWithLeases`).
    func read(_ range: RangeRequest, linearizable: Bool, _ done: @escaping @Sendable (LeasedReadOutcome) -> Void)
    /// A write through the log.
    func write(_ command: StoreCommand, _ done: @escaping @Sendable (ClientResponse.Outcome) -> Void)
    /// How many keys a lease holds on this node; nil when there is no such lease.
    func leaseKeyCount(_ id: LeaseID) -> Int?
    var status: NodeStatus { get }
    /// Where a member serves clients, to name the leader in a READONLY error.
    func clientAddress(of node: NodeID) -> String?
}

/// What `NodeRuntime.readWithLeases` answers: the keys read, the deadline of each lease they hold, and the clock
/// of the node that served the read (the leader's, for reads served on the leader).
struct LeasedRange: Sendable {
    var range: RangeResponse
    var deadlines: [LeaseID: StoreTime]
    var now: StoreTime
}

enum LeasedReadOutcome: Sendable {
    case read(LeasedRange)
    /// Not leader, unavailable, failed: what a `.read` would have answered instead of a result.
    case refused(ClientResponse.Outcome)
}

extension NodeRuntime: RedisBackend {
    func read(_ range: RangeRequest, linearizable: Bool, _ done: @escaping @Sendable (LeasedReadOutcome) -> Void) {
        let answer = AnswerOnce(done)
        let timeout = loop.scheduleTask(in: RuntimeGateway.answerTimeout) {
            answer.resolve(
                .refused(.unavailable("no answer within \(RuntimeGateway.answerTimeout.nanoseconds / 1_000_000_000) s"))
            )
        }
        readWithLeases(range, linearizable: linearizable) { outcome in
            timeout.cancel()
            answer.resolve(outcome)
        }
    }

    func write(_ command: StoreCommand, _ done: @escaping @Sendable (ClientResponse.Outcome) -> Void) {
        // No session: Redis clients do not retry with one, and the port never retries a write it sent.
        let request = ClientRequest(requestID: 0, group: group, operation: .write(StoreProposal(command)))
        let answer = AnswerOnce(done)
        // A write the log never answers (a leader that lost its quorum) must not hold its connection, and the
        // keys it works on, forever; the HTTP frontend gives up after the same time.
        let timeout = loop.scheduleTask(in: RuntimeGateway.answerTimeout) {
            answer.resolve(
                .unavailable(
                    "no answer within \(RuntimeGateway.answerTimeout.nanoseconds / 1_000_000_000) s; the write may or"
                        + " may not have taken effect"))
        }
        handle(request) { response in
            timeout.cancel()
            answer.resolve(response.outcome)
        }
    }

    func clientAddress(of node: NodeID) -> String? { address(of: node)?.clientAddress }
}

/// Passes on the first of an answer and a timeout; the other finds it already given.
private final class AnswerOnce<Outcome: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: resolved only on the runtime's event loop (the runtime's answers and its timers).
    private var done: (@Sendable (Outcome) -> Void)?

    init(_ done: @escaping @Sendable (Outcome) -> Void) { self.done = done }

    func resolve(_ outcome: Outcome) {
        let done = self.done
        self.done = nil
        done?(outcome)
    }
}
