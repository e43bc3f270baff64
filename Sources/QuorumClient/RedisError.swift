/// Why a command to a Redis server got no answer. An error reply from the server is not one of these: it is an
/// answer (`RESPValue.error`), and the connection stays usable.
public enum RedisError: Error, Hashable, Sendable, CustomStringConvertible {
    case badEndpoint(String)
    case connectFailed(endpoint: String, reason: String)
    /// No answer within the command timeout. The connection is closed: a late answer would otherwise be taken as
    /// the answer to the next command.
    case timedOut(endpoint: String, command: String)
    case connectionClosed(endpoint: String)
    /// The connection failed under a command (reset, or bytes that are not RESP); it is closed.
    case connectionBroken(endpoint: String, reason: String)
    /// The server answered something this command never answers.
    case unexpectedReply(endpoint: String, command: String, reply: String)
    case cancelled

    public var description: String {
        switch self {
        case .badEndpoint(let endpoint): "Redis endpoint '\(endpoint)' is not HOST:PORT"
        case .connectFailed(let endpoint, let reason):
            "\(endpoint): cannot connect (\(reason)); is redis-server running there?"
        case .timedOut(let endpoint, let command): "\(endpoint): no answer to \(command) in time; connection closed"
        case .connectionClosed(let endpoint): "\(endpoint): the connection closed before the answer arrived"
        case .connectionBroken(let endpoint, let reason): "\(endpoint): connection broken (\(reason)); closed"
        case .unexpectedReply(let endpoint, let command, let reply):
            "\(endpoint): unexpected answer to \(command): \(reply)"
        case .cancelled: "cancelled by the caller; connection closed"
        }
    }
}
