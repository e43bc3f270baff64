/// A store-wide logical clock: every write (put, delete, transaction with writes, lease revoke that deletes keys)
/// advances it by one. Zero means "nothing written yet"; the first write produces revision 1, as in etcd.
public struct Revision: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (lhs: Revision, rhs: Revision) -> Bool { lhs.rawValue < rhs.rawValue }
    public static let zero: Revision = 0
    public var next: Revision { Revision(rawValue + 1) }
    public var description: String { "r\(rawValue)" }
}

/// Names a lease. The caller (the leader's request router) chooses it, so that applying a grant is deterministic.
/// Zero is reserved to mean "no lease" on the wire, so valid ids start at 1.
public struct LeaseID: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (lhs: LeaseID, rhs: LeaseID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "lease \(rawValue)" }
}

/// Identifies a retrying client for exactly-once writes. Chosen by the client (a random 64-bit value is enough).
public struct ClientID: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (lhs: ClientID, rhs: ClientID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "client \(rawValue)" }
}

/// A client's per-request counter. A client increments it for each new request and reuses it for each retry.
public struct SequenceNumber: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "#\(rawValue)" }
}

/// A point in time on the leader's clock, in milliseconds since an epoch the leader chooses. It only enters the
/// store inside commands (lease grant, keep-alive) and queries, never from a clock the store reads itself.
public struct StoreTime: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(milliseconds: UInt64) { self.rawValue = milliseconds }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (lhs: StoreTime, rhs: StoreTime) -> Bool { lhs.rawValue < rhs.rawValue }
    public var milliseconds: UInt64 { rawValue }
    /// Saturates rather than traps: a TTL near UInt64.max must not crash a replica.
    public func adding(_ ttl: LeaseTTL) -> StoreTime {
        let (sum, overflow) = rawValue.addingReportingOverflow(ttl.milliseconds)
        return StoreTime(rawValue: overflow ? UInt64.max : sum)
    }
    public var description: String { "\(rawValue)ms" }
}

/// A lease's time to live. Clients of the etcd-style API speak whole seconds; the Redis port's PX and PEXPIRE
/// need milliseconds, so that is what is kept.
public struct LeaseTTL: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds.
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(milliseconds: UInt64) { self.rawValue = milliseconds }
    /// Saturates rather than traps, like `StoreTime.adding(_:)`.
    public init(seconds: UInt64) {
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        self.rawValue = overflow ? UInt64.max : product
    }
    public static func < (lhs: LeaseTTL, rhs: LeaseTTL) -> Bool { lhs.rawValue < rhs.rawValue }
    public var milliseconds: UInt64 { rawValue }
    /// Whole seconds, rounded up so that a TTL below a second does not read as none.
    public var seconds: UInt64 { rawValue / 1000 + (rawValue % 1000 == 0 ? 0 : 1) }
    public var description: String { rawValue % 1000 == 0 ? "\(rawValue / 1000)s" : "\(rawValue)ms" }
}
