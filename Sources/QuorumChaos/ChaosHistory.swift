import Foundation
import QuorumSimulation
import Synchronization

/// The operations of a run as its clients saw them, timed in microseconds from the start of the run, and the writes
/// the cluster acknowledged on keys written once (which must all be there at the end).
final class ChaosHistory: Sendable {
    private let origin = ContinuousClock.now
    private let state = Mutex(State())

    private struct State {
        var operations: [HistoryOperation] = []
        /// Operations the cluster refused before acting on them; they are left out of the history.
        var failed = 0
        var acknowledged: [String: Int] = [:]
    }

    /// Microseconds since the run started.
    var now: UInt64 {
        let elapsed = origin.duration(to: .now)
        return UInt64(elapsed.components.seconds) * 1_000_000
            + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
    }

    func record(_ operation: HistoryOperation) { state.withLock { $0.operations.append(operation) } }

    func recordRefused() { state.withLock { $0.failed += 1 } }

    func recordAcknowledged(key: String, value: Int) { state.withLock { $0.acknowledged[key] = value } }

    var operations: [HistoryOperation] { state.withLock { $0.operations } }
    var refused: Int { state.withLock { $0.failed } }
    var acknowledged: [String: Int] { state.withLock { $0.acknowledged } }
}

/// How a client call ended, as the history records it.
enum CallOutcome {
    case completed(KVResult)
    /// The cluster said no before acting: the operation did not happen.
    case refused
    /// Timed out, connection lost, or an answer that does not say: it may have happened, then or later.
    case unknown
}

extension ChaosHistory {
    /// Runs `call` as client `client`'s `operation` on `key` and records it with its times.
    func perform(
        client: Int, key: String, _ operation: KVOperation, _ call: () async -> CallOutcome
    ) async -> CallOutcome {
        let invokedAt = now
        let outcome = await call()
        switch outcome {
        case .completed(let result):
            record(
                HistoryOperation(
                    client: client, key: key, operation: operation, invokedAt: invokedAt,
                    completedAt: max(now, invokedAt), result: result))
        case .refused:
            recordRefused()
        case .unknown:
            record(
                HistoryOperation(
                    client: client, key: key, operation: operation, invokedAt: invokedAt, completedAt: nil, result: nil)
            )
        }
        return outcome
    }
}
