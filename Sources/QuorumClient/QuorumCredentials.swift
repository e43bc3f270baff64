import QuorumWire

/// Who a client is, for a cluster with authentication on: a user's password, or a token a node issued (valid on
/// that node only).
public enum QuorumCredentials: Hashable, Sendable {
    case password(user: String, password: String)
    case token(String)

    var authentication: AccessRequest {
        switch self {
        case .password(let user, let password): .authenticate(user: user, password: password)
        case .token(let token): .authenticateWithToken(token)
        }
    }
}
