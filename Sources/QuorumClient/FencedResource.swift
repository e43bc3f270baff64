import Synchronization

/// A resource that protects itself from holders who lost their lock without knowing: every write presents its
/// holder's fencing token, and a token smaller than the largest one seen is refused. Any storage can do the same
/// with one stored number; this is that check, around a value of your own.
///
/// A lock service without fencing tokens (Redlock, etcd's lock API used naively) cannot offer this: a holder paused
/// past its TTL wakes up and writes over the next holder's work. With tokens, its write is refused.
public final class FencedResource<State: Sendable>: Sendable {
    private let guarded: Mutex<(state: State, largestToken: UInt64?)>

    public init(_ initial: State) {
        guarded = Mutex((initial, nil))
    }

    /// Runs `body` on the state if `token` is at least the largest token seen, and remembers it.
    public func write<Result>(token: UInt64, _ body: (inout State) throws(StaleTokenError) -> Result)
        throws(StaleTokenError) -> Result
    {
        try guarded.withLock { (guarded) throws(StaleTokenError) -> Result in
            if let largest = guarded.largestToken, token < largest {
                throw StaleTokenError(presented: token, largestSeen: largest)
            }
            guarded.largestToken = token
            return try body(&guarded.state)
        }
    }

    /// The state now (reads need no token: they change nothing).
    public var state: State { guarded.withLock { $0.state } }

    /// The largest token any write presented.
    public var largestToken: UInt64? { guarded.withLock { $0.largestToken } }
}

/// A write presented a token older than one the resource has already accepted: its lock has moved on.
public struct StaleTokenError: Error, Hashable, Sendable, CustomStringConvertible {
    public var presented: UInt64
    public var largestSeen: UInt64
    public var description: String {
        "fencing token \(presented) is stale: the resource has seen \(largestSeen), so the lock has moved on"
    }
}
