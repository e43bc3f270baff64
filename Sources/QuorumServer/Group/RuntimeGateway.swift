import NIOCore
import QuorumConsensus
import QuorumWire

/// Lets async code (the HTTP frontend) ask the node exactly what a binary client asks: it hops onto the node's
/// event loop, calls `NodeHost.handle(_:respond:)` and awaits the one `ClientResponse`. Every rule (routing to
/// the group, leadership, ReadIndex, reserved keys, lease clocks) stays in the host and its groups.
struct RuntimeGateway: Sendable {
    let host: NodeHost

    /// A request the log never answers (a leader that lost its quorum mid-write, say) must not hold an HTTP
    /// connection forever; past this the client is told the outcome is unknown.
    static let answerTimeout = TimeAmount.seconds(10)
    static let answerSeconds = answerTimeout.nanoseconds / 1_000_000_000
    private static let late = ClientResponse.Outcome.unavailable(
        "no answer within \(answerSeconds) s; a write may or may not have taken effect: read the key before retrying")

    /// - Parameters:
    ///   - group: the group to ask; nil: the owner of `key` by this node's copy of the shard map (worked out on the
    ///     loop, in the same hop), or group 1 without a key.
    ///   - token: the bearer token the request carried, checked against the cluster's access rules.
    func perform(
        _ operation: ClientRequest.Operation, group: GroupID? = NodeHost.clusterGroup, ownerOf key: [UInt8]? = nil,
        token: String? = nil
    ) async -> ClientResponse {
        let host = self.host
        let loop = host.loop
        let answer = PendingAnswer(loop: loop)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                loop.execute {
                    guard answer.wait(with: continuation) else { return }
                    let addressed = group ?? key.map { host.shardMap.owner(ofKey: $0) } ?? NodeHost.clusterGroup
                    // The HTTP frontend matches an answer to its request by this await, not by id, so the id is unused.
                    let request = ClientRequest(requestID: 0, group: addressed, operation: operation)
                    host.answerInTime(orElse: Self.late, { answer.resume($0) }) { respond in
                        var user: String?
                        if let token {
                            switch host.user(forToken: token) {
                            case .success(let found): user = found
                            case .failure(let refusal): return respond(.failed(refusal.message))
                            }
                        }
                        host.handle(request, by: user) { respond($0.outcome) }
                    }
                }
            }
        } onCancel: {
            // Cancelled when the HTTP server shuts down: answer now so that shutdown does not wait for the log.
            loop.execute { answer.resume(.unavailable("the node is shutting down; retry against another member")) }
        }
    }
}

extension NodeHost {
    /// Starts `operation` on the loop and passes its answer to `done`, or `late` once `RuntimeGateway.answerTimeout`
    /// has passed without one: a request the log never answers (a leader that lost its quorum mid-write, say) must
    /// not hold its connection, and what waits behind it, forever. Whichever comes second is dropped.
    func answerInTime<Outcome: Sendable>(
        orElse late: Outcome, _ done: @escaping @Sendable (Outcome) -> Void,
        _ operation: (_ respond: @escaping @Sendable (Outcome) -> Void) -> Void
    ) {
        loop.preconditionInEventLoop()
        let answer = AnswerOnce(done, late: late)
        answersDue.add(answer, due: .now() + RuntimeGateway.answerTimeout)
        operation { outcome in answer.resolve(outcome) }
    }
}

/// Answers that may still time out, in the order they began. All wait the same `RuntimeGateway.answerTimeout`, so
/// the oldest is always the first due: the runtime's tick expires them from the front, instead of one timer per
/// request (each armed and cancelled on the request path). An answer may come up to a tick late.
final class AnswerDeadlines {
    // Not Sendable: owned by the `NodeHost` and used only on its loop.
    private var waiting = CircularBuffer<(due: NIODeadline, answer: any ExpiringAnswer)>()

    func add(_ answer: any ExpiringAnswer, due: NIODeadline) {
        waiting.append((due, answer))
    }

    /// Gives their late answer to those due by `now`; forgets, from the front, those already answered.
    func expire(now: NIODeadline) {
        while let first = waiting.first, first.answer.isAnswered || first.due <= now {
            waiting.removeFirst()
            first.answer.expire()
        }
    }
}

protocol ExpiringAnswer: AnyObject {
    var isAnswered: Bool { get }
    /// Answers with the late outcome, unless answered already.
    func expire()
}

/// Passes on the first of an answer and its expiry; the other finds it already given.
private final class AnswerOnce<Outcome: Sendable>: ExpiringAnswer, @unchecked Sendable {
    // @unchecked Sendable: resolved only on the runtime's event loop (the runtime's answers and its tick).
    private var done: (@Sendable (Outcome) -> Void)?
    private let late: Outcome

    init(_ done: @escaping @Sendable (Outcome) -> Void, late: Outcome) {
        self.done = done
        self.late = late
    }

    var isAnswered: Bool { done == nil }

    func resolve(_ outcome: Outcome) {
        let done = self.done
        self.done = nil
        done?(outcome)
    }

    func expire() { resolve(late) }
}

/// The one answer an HTTP request awaits: whichever comes first of the runtime's response, the timeout or a
/// cancellation resumes the continuation; the others find it gone.
private final class PendingAnswer: @unchecked Sendable {
    // @unchecked Sendable: every property is read and written only on `loop`; each method asserts it.
    private let loop: any EventLoop
    private var continuation: CheckedContinuation<ClientResponse, Never>?
    private var answered = false

    init(loop: any EventLoop) { self.loop = loop }

    /// Holds the continuation until `resume`; false (having resumed it) when the request was already cancelled.
    func wait(with continuation: CheckedContinuation<ClientResponse, Never>) -> Bool {
        loop.preconditionInEventLoop()
        guard !answered else {
            continuation.resume(
                returning: ClientResponse(requestID: 0, outcome: .unavailable("the request was cancelled")))
            return false
        }
        self.continuation = continuation
        return true
    }

    func resume(_ outcome: ClientResponse.Outcome) {
        loop.preconditionInEventLoop()
        guard !answered else { return }
        answered = true
        continuation?.resume(returning: ClientResponse(requestID: 0, outcome: outcome))
        continuation = nil
    }
}
