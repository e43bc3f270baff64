import QuorumStore

/// Why a client call failed; each says what to do.
public enum QuorumClientError: Error, Hashable, Sendable, CustomStringConvertible {
    case badEndpoint(String)
    /// No endpoint answered within the deadline.
    case unreachable(endpoints: [String], lastError: String)
    case timedOut(endpoint: String)
    case connectionLost
    /// The calling task was cancelled. A write may or may not have been applied (at most once).
    case cancelled
    /// The cluster refused the request; the message says why.
    case refused(String)
    /// The store refused the operation (compacted revision, unknown lease, over a limit, ...).
    case store(StoreError)
    case unexpectedResponse(String)
    /// The node ended a watch; with `resumeRevision`, a new watch from there misses nothing.
    case watchEnded(reason: String, resumeRevision: Revision?)
    /// The session's lease ended (expired during a pause, or revoked): whatever it held is no longer held.
    case sessionLost(LeaseID)
    /// A lock (or semaphore, or election) was not won within the time the caller allowed.
    case lockTimedOut(name: String)

    public var description: String {
        switch self {
        case .badEndpoint(let endpoint): "endpoint '\(endpoint)' is not HOST:PORT"
        case .unreachable(let endpoints, let lastError):
            "no node answered at \(endpoints.joined(separator: ", ")) (last error: \(lastError)); check --endpoints and that the cluster is running"
        case .timedOut(let endpoint): "\(endpoint) did not answer in time"
        case .connectionLost: "the connection closed before the answer arrived"
        case .cancelled: "cancelled by the caller"
        case .refused(let message): message
        case .store(let error): error.description
        case .unexpectedResponse(let what): "unexpected response: \(what)"
        case .watchEnded(let reason, _): "watch ended: \(reason)"
        case .sessionLost(let lease):
            "the session's \(lease) ended, and with it everything held through it; start a new session"
        case .lockTimedOut(let name): "'\(name)' was not acquired within the timeout"
        }
    }
}
