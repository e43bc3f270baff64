import NIOCore
import QuorumConsensus
import QuorumStore
import QuorumWire

/// What the Redis port needs of a node, on the node's event loop: the same reads and writes a binary or HTTP
/// client makes, so every rule (leadership, ReadIndex, reserved keys, the leader's lease clock) stays in the
/// runtime. A protocol so that the command semantics can be tested against an in-memory store.
protocol RedisBackend: AnyObject, Sendable {
    /// A range read with the deadlines of the leases its keys hold (`GroupRuntime.readWithLeases`).
    func read(_ range: RangeRequest, linearizable: Bool, _ done: @escaping @Sendable (LeasedReadOutcome) -> Void)
    /// A write through the log.
    func write(_ command: StoreCommand, _ done: @escaping @Sendable (ClientResponse.Outcome) -> Void)
    /// Calls `changed` once, after a change to any of `keys` applied on this node; returns what cancels it.
    func observe(_ keys: [[UInt8]], changed: @escaping @Sendable () -> Void) -> @Sendable () -> Void
    /// Runs `body` on the node's event loop after `milliseconds`; returns what cancels it.
    func schedule(in milliseconds: Int64, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void
    /// How many keys a lease holds on this node; nil when there is no such lease.
    func leaseKeyCount(_ id: LeaseID) -> Int?
    var status: NodeStatus { get }
    /// Where a member serves the Redis protocol, if known here, to name the leader in a READONLY error.
    func redisAddress(of node: NodeID) -> String?
    /// Where the leader of `group` serves the Redis protocol, if known here, to name it in an ASK redirect.
    func redisLeaderAddress(of group: GroupID) -> String?
}

/// What `GroupRuntime.readWithLeases` answers: the keys read, the deadline of each lease they hold, and the clock
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

extension GroupRuntime: RedisBackend {
    private static let lateRead = LeasedReadOutcome.refused(
        .unavailable("no answer within \(RuntimeGateway.answerSeconds) s"))
    private static let lateWrite = ClientResponse.Outcome.unavailable(
        "no answer within \(RuntimeGateway.answerSeconds) s; the write may or may not have taken effect")

    func read(_ range: RangeRequest, linearizable: Bool, _ done: @escaping @Sendable (LeasedReadOutcome) -> Void) {
        recordLoad(of: range.key)
        host.answerInTime(orElse: Self.lateRead, done) { respond in
            readWithLeases(range, linearizable: linearizable, respond: respond)
        }
    }

    func write(_ command: StoreCommand, _ done: @escaping @Sendable (ClientResponse.Outcome) -> Void) {
        // No session: Redis clients do not retry with one, and the port never retries a write it sent.
        let request = ClientRequest(requestID: 0, group: group, operation: .write(StoreProposal(command)))
        host.answerInTime(orElse: Self.lateWrite, done) { respond in handle(request) { respond($0.outcome) } }
    }

    func redisAddress(of node: NodeID) -> String? { host.redisAddress(of: node) }

    func schedule(in milliseconds: Int64, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let task = loop.scheduleTask(in: .milliseconds(milliseconds), body)
        return { task.cancel() }
    }

    func redisLeaderAddress(of group: GroupID) -> String? {
        host.group(group)?.groupStatus.leader.flatMap(host.redisAddress(of:))
    }


}
