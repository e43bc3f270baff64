import HummingbirdBcrypt
import NIOConcurrencyHelpers

/// A bcrypt hash of nobody's password, at the node's cost. An unknown user's password is checked against it, so the
/// refusal takes as long as a wrong password does and its timing does not tell which user names exist.
final class DecoyPasswordHash: Sendable {
    private let cost: UInt8
    private let made = NIOLockedValueBox<String?>(nil)

    init(cost: UInt8) { self.cost = cost }

    /// The hash, made on first use. Blocks for one bcrypt round: call it off the event loop.
    func value() -> String {
        made.withLockedValue { made in
            if let made { return made }
            let hash = Bcrypt.hash("no user has this password", cost: cost)
            made = hash
            return hash
        }
    }
}
