import DequeModule
import NIOCore
import QuorumWire

/// The tokens this node gave to users who authenticated, as etcd's "simple" tokens: random, kept in memory, valid
/// on this node only, until they expire or their user's password changes. A client that connects elsewhere, or
/// restarts the node, authenticates again.
///
/// All tokens live the same time, so the oldest is always the first to expire: issuing sweeps the expired from the
/// front, with no timer, and the table is bounded by dropping the oldest first.
final class AccessTokens {
    // Not Sendable: owned by the `NodeHost` and used only on its loop.
    private struct Issued {
        var user: String
        /// The user's password hash when the token was issued: a password change ends the user's tokens.
        var passwordHash: String
        var expires: NIODeadline
    }

    static let countMax = 100_000

    private let timeToLive: TimeAmount
    private var issued: [String: Issued] = [:]
    private var byAge: Deque<(token: String, expires: NIODeadline)> = []
    private var random = SystemRandomNumberGenerator()

    init(timeToLive: TimeAmount) { self.timeToLive = timeToLive }

    func issue(to user: String, passwordHash: String, now: NIODeadline) -> String {
        while let oldest = byAge.first, oldest.expires <= now || byAge.count >= Self.countMax {
            byAge.removeFirst()
            issued[oldest.token] = nil
        }
        // 128 random bits, as hex.
        let token = (0..<2).map { _ in String(random.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
        let expires = now + timeToLive
        issued[token] = Issued(user: user, passwordHash: passwordHash, expires: expires)
        byAge.append((token, expires))
        return token
    }

    /// The user `token` authenticates now, or why it does not.
    func user(for token: String, now: NIODeadline, policy: AccessPolicy) -> Result<String, AccessRefusal> {
        guard let entry = issued[token] else {
            return .failure(
                AccessRefusal(
                    "authentication failed: unknown token (tokens are valid only on the node that issued them, until it "
                        + "restarts); authenticate again"))
        }
        guard now < entry.expires else {
            return .failure(AccessRefusal("authentication failed: the token has expired; authenticate again"))
        }
        guard policy.users[entry.user]?.passwordHash == entry.passwordHash else {
            return .failure(
                AccessRefusal(
                    "authentication failed: the token's user was deleted or changed password; authenticate again"))
        }
        return .success(entry.user)
    }
}

/// Why a client was not let in, worded for the client (never with the password or token it sent).
struct AccessRefusal: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
