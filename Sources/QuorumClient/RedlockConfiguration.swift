/// The parameters of the Redlock algorithm; the defaults follow the Redis documentation and its reference clients.
public struct RedlockConfiguration: Hashable, Sendable {
    /// How long a lock lives on each server (`SET ... PX ttl`) unless released or extended first.
    public var ttl: Duration
    /// The share of the TTL assumed lost to clock drift between the servers and this client; with the fixed
    /// `driftAllowance`, it is taken off every lease's validity.
    public var driftFactor: Double
    /// Added to `ttl * driftFactor`, so that short TTLs still allow for the servers' millisecond expiry granularity.
    public var driftAllowance: Duration
    /// How many times a failed acquisition is tried again (so at most `retryCount + 1` attempts).
    public var retryCount: Int
    /// The pause before each retry, plus a random part of up to `retryJitter`, so that clients that collided on a
    /// lock do not collide again in lockstep.
    public var retryDelay: Duration
    public var retryJitter: Duration
    /// The most one server may take to connect and answer. Small compared to the TTL, so that a server that is down
    /// does not eat the validity the others granted.
    public var serverTimeout: Duration

    public init(
        ttl: Duration = .seconds(10), driftFactor: Double = 0.01, driftAllowance: Duration = .milliseconds(2),
        retryCount: Int = 3, retryDelay: Duration = .milliseconds(200), retryJitter: Duration = .milliseconds(100),
        serverTimeout: Duration = .milliseconds(50)
    ) {
        self.ttl = ttl
        self.driftFactor = driftFactor
        self.driftAllowance = driftAllowance
        self.retryCount = retryCount
        self.retryDelay = retryDelay
        self.retryJitter = retryJitter
        self.serverTimeout = serverTimeout
    }

    /// Why these settings cannot work, or nil if they can.
    var problem: String? {
        if ttl < .milliseconds(1) { return "ttl must be at least 1 ms (Redis expires keys in whole milliseconds)" }
        if !(0..<1).contains(driftFactor) { return "driftFactor must be in 0..<1, not \(driftFactor)" }
        if driftAllowance < .zero { return "driftAllowance must not be negative" }
        if retryCount < 0 { return "retryCount must not be negative" }
        if retryDelay < .zero || retryJitter < .zero { return "retryDelay and retryJitter must not be negative" }
        if serverTimeout <= .zero { return "serverTimeout must be positive" }
        return nil
    }
}
