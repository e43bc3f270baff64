/// A lock that a majority of the servers granted: proof of holding `resource` until `validUntil`, by this client's
/// clock, and not a moment longer. It carries no fencing token: nothing stops the holder from acting after
/// `validUntil` (see docs/redlock.md).
public struct RedlockLease: Hashable, Sendable {
    public let resource: String
    /// The random value stored under `resource` on the servers; only a holder of this value may release or extend.
    public let value: String
    /// How long the lock was valid for when it was granted.
    public let validity: Duration
    public let validUntil: ContinuousClock.Instant

    init(resource: String, value: String, validity: Duration, validUntil: ContinuousClock.Instant) {
        self.resource = resource
        self.value = value
        self.validity = validity
        self.validUntil = validUntil
    }

    /// Whether the lock may still be trusted now. Check it right before acting, and even then, a pause between the
    /// check and the act (a GC, a page fault, a slow network) can outlast it.
    public var isValid: Bool { ContinuousClock.now < validUntil }

    public var remainingValidity: Duration { max(.zero, ContinuousClock.now.duration(to: validUntil)) }
}
