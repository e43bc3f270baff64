import NIOCore
import QuorumWire

/// Lets async code (the HTTP frontend) ask the node runtime exactly what a binary client asks: it hops onto the
/// runtime's event loop, calls `NodeRuntime.handle(_:respond:)` and awaits the one `ClientResponse`. Every
/// rule (leadership, ReadIndex, reserved keys, lease clocks) stays in the runtime.
struct RuntimeGateway: Sendable {
    let runtime: NodeRuntime

    /// A request the log never answers (a leader that lost its quorum mid-write, say) must not hold an HTTP
    /// connection forever; past this the client is told the outcome is unknown.
    static let answerTimeout = TimeAmount.seconds(10)

    func perform(_ operation: ClientRequest.Operation) async -> ClientResponse {
        let runtime = self.runtime
        let loop = runtime.loop
        // The HTTP frontend matches an answer to its request by this await, not by id, so the id is unused.
        let request = ClientRequest(requestID: 0, group: runtime.group, operation: operation)
        let answer = PendingAnswer(loop: loop)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                loop.execute {
                    guard answer.wait(with: continuation) else { return }
                    let late = ClientResponse.Outcome.unavailable(
                        "no answer within \(Self.answerTimeout.nanoseconds / 1_000_000_000) s; a write may or may not"
                            + " have taken effect: read the key before retrying")
                    runtime.answerInTime(orElse: late, { answer.resume($0) }) { respond in
                        runtime.handle(request) { respond($0.outcome) }
                    }
                }
            }
        } onCancel: {
            // Cancelled when the HTTP server shuts down: answer now so that shutdown does not wait for the log.
            loop.execute { answer.resume(.unavailable("the node is shutting down; retry against another member")) }
        }
    }
}

extension NodeRuntime {
    /// Starts `operation` on the loop and passes its answer to `done`, or `late` once `RuntimeGateway.answerTimeout`
    /// has passed without one: a request the log never answers (a leader that lost its quorum mid-write, say) must
    /// not hold its connection, and what waits behind it, forever. Whichever comes second is dropped.
    func answerInTime<Outcome: Sendable>(
        orElse late: Outcome, _ done: @escaping @Sendable (Outcome) -> Void,
        _ operation: (_ respond: @escaping @Sendable (Outcome) -> Void) -> Void
    ) {
        loop.preconditionInEventLoop()
        let answer = AnswerOnce(done)
        let timeout = loop.scheduleTask(in: RuntimeGateway.answerTimeout) { answer.resolve(late) }
        operation { outcome in
            timeout.cancel()
            answer.resolve(outcome)
        }
    }
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
