/// Why a Redlock call failed; each says what happened on the servers.
public enum RedlockError: Error, Hashable, Sendable, CustomStringConvertible {
    case badConfiguration(String)
    /// Every attempt failed; the last one's reason is given. Whatever an attempt set was released again.
    case notAcquired(resource: String, attempts: Int, lastFailure: RedlockPlan.Failure)
    /// The lock could not be extended on a majority (it expired, or another client holds it now). The old lease is
    /// still good until its `validUntil`, and no longer.
    case notExtended(resource: String, failure: RedlockPlan.Failure)
    case cancelled

    public var description: String {
        switch self {
        case .badConfiguration(let problem): "Redlock configuration: \(problem)"
        case .notAcquired(let resource, let attempts, let failure):
            "could not lock '\(resource)' in \(attempts) attempt\(attempts == 1 ? "" : "s"); the last: \(failure)"
        case .notExtended(let resource, let failure): "could not extend the lock on '\(resource)': \(failure)"
        case .cancelled: "cancelled by the caller"
        }
    }
}
