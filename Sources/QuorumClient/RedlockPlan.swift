/// The decisions of the Redlock algorithm, without I/O or clocks: how many servers make a majority, how long a
/// lock that a majority granted may be trusted, whether to try again and after how long. `Redlock` feeds it what the
/// servers answered and how long that took.
public struct RedlockPlan: Hashable, Sendable {
    public let serverCount: Int
    public let configuration: RedlockConfiguration

    public init(serverCount: Int, configuration: RedlockConfiguration) {
        self.serverCount = serverCount
        self.configuration = configuration
    }

    /// What one server answered to `SET resource value NX PX ttl` (or to an extension).
    public enum Answer: Hashable, Sendable {
        case granted
        /// The key exists with another client's value.
        case heldByAnother
        /// No usable answer: unreachable, timed out, an error reply. The server may still have set the key, which is
        /// why a failed acquisition releases on every server, this one included.
        case failed(String)
    }

    public enum Outcome: Hashable, Sendable {
        /// A majority granted the lock and it is still valid for `validity`, measured from the end of the attempt.
        case held(validity: Duration)
        /// Release on every server, then retry if `shouldRetry` says so.
        case notHeld(Failure)
    }

    public enum Failure: Hashable, Sendable, CustomStringConvertible {
        case noMajority(granted: Int, needed: Int, of: Int, errors: [String])
        /// A majority granted it, but so slowly that no validity is left after the drift allowance.
        case tooSlow(elapsed: Duration, ttl: Duration)

        public var description: String {
            switch self {
            case .noMajority(let granted, let needed, let count, let errors):
                "\(granted) of \(count) servers granted it (\(needed) needed)"
                    + (errors.isEmpty ? "" : "; errors: " + errors.joined(separator: "; "))
            case .tooSlow(let elapsed, let ttl):
                "a majority granted it, but acquiring took \(elapsed) of the \(ttl) TTL: no validity left after drift"
            }
        }
    }

    /// N/2+1: any two majorities share a server, and one server holds the key for one value at a time.
    public var majority: Int { serverCount / 2 + 1 }

    /// The clock drift allowed for: the servers may expire the key a little earlier than this client's clock says.
    public var drift: Duration { configuration.ttl * configuration.driftFactor + configuration.driftAllowance }

    /// How much of the TTL is left to trust once acquiring took `elapsed`; zero or less means none.
    public func validity(afterAcquiringIn elapsed: Duration) -> Duration {
        configuration.ttl - elapsed - drift
    }

    /// Whether the lock is held, given every server's answer and the time taken to collect them.
    public func outcome(of answers: [Answer], elapsed: Duration) -> Outcome {
        let granted = answers.count(where: { $0 == .granted })
        guard granted >= majority else {
            let errors = answers.compactMap { answer -> String? in
                if case .failed(let reason) = answer { reason } else { nil }
            }
            return .notHeld(.noMajority(granted: granted, needed: majority, of: serverCount, errors: errors))
        }
        let validity = validity(afterAcquiringIn: elapsed)
        guard validity > .zero else { return .notHeld(.tooSlow(elapsed: elapsed, ttl: configuration.ttl)) }
        return .held(validity: validity)
    }

    /// Whether to try again after attempt number `attempt` (counting from 1) failed.
    public func shouldRetry(afterAttempt attempt: Int) -> Bool { attempt <= configuration.retryCount }

    /// The pause before the next attempt: `retryDelay` plus a uniformly random part of up to `retryJitter`.
    public func delayBeforeRetry(using random: inout some RandomNumberGenerator) -> Duration {
        let jitter = configuration.retryJitter.components
        // Whole microseconds are plenty for a sleep; they keep the arithmetic in Int64.
        let jitterMicroseconds = jitter.seconds * 1_000_000 + jitter.attoseconds / 1_000_000_000_000
        return configuration.retryDelay + .microseconds(Int64.random(in: 0...jitterMicroseconds, using: &random))
    }

    /// The TTL as the whole milliseconds `PX` takes, rounded down so that the servers never hold it longer than asked.
    public var ttlMilliseconds: Int64 {
        let ttl = configuration.ttl.components
        return ttl.seconds * 1000 + ttl.attoseconds / 1_000_000_000_000_000
    }
}
