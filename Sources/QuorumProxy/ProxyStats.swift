/// What the proxy has done with each instance, for operators: `ServiceProxy.stats()` and the admin endpoint's
/// `/stats` return it. In TCP mode a request is a connection.
public struct ProxyStats: Codable, Hashable, Sendable {
    public var service: String
    public var mode: String
    /// Registered instances, and removed ones that still have requests in flight, by instance id.
    public var backends: [String: BackendStats]
}

public struct BackendStats: Codable, Hashable, Sendable {
    public enum State: String, Codable, Hashable, Sendable {
        case healthy
        /// Taken out by outlier detection (request failures) until its ejection ends.
        case ejected
        /// Taken out by active health checks until enough of them pass.
        case failingChecks
        /// Removed from the registry: gets nothing new, finishes what it has.
        case draining
    }

    public var address: String
    public var state: State
    /// Requests (TCP: connections) in flight now.
    public var active: Int
    /// Requests handed to the instance since the proxy started, including failed ones.
    public var total: Int
    /// Requests that could not be sent or got no complete answer (HTTP: also answers of 500 and above).
    public var failures: Int
    /// Bytes written to the instance and read from it, on the wire (HTTP: headers included).
    public var bytesSent: Int
    public var bytesReceived: Int
}
