/// Names one backend: an instance of a service that requests can be sent to. The registry chooses it (for
/// example from the instance's lease), so that every balancer in the cluster means the same instance by it,
/// and the consistent-hashing policies place keys on the same instance everywhere.
public struct BackendID: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (lhs: BackendID, rhs: BackendID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "backend \(rawValue)" }
}

/// The hash of what a request should stick to (a user id, a session cookie, a cache key). Consistent-hashing
/// policies map it to a backend; the others ignore it.
///
/// Build it with ``init(hashing:)-(String)`` rather than from Swift's `Hasher`: `Hasher` is seeded randomly per
/// process, so two proxies would send the same key to different backends.
public struct RequestKey: RawRepresentable, Hashable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// Hashes bytes with a fixed function (FNV-1a, then a mixer), identical in every process and on every platform.
    public init(hashing bytes: some Sequence<UInt8>) { self.rawValue = StableHash.bytes(bytes) }
    public init(hashing text: String) { self.init(hashing: text.utf8) }

    public var description: String { "key \(rawValue)" }
}

/// A point in time on the caller's clock, in microseconds since an epoch the caller chooses. The balancer never
/// reads a clock: every call that depends on time takes `now`, so a simulation replays exactly.
///
/// Microseconds rather than milliseconds because backends on one network answer in well under a millisecond, and
/// the latency-aware policies would see them all as equally fast at millisecond resolution.
public struct BalancerTime: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(microseconds: UInt64) { self.rawValue = microseconds }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (lhs: BalancerTime, rhs: BalancerTime) -> Bool { lhs.rawValue < rhs.rawValue }
    public static let zero: BalancerTime = 0
    public var microseconds: UInt64 { rawValue }

    /// The time elapsed since `earlier`, or zero if `earlier` is not earlier. A caller's clock that steps back
    /// must not crash a proxy, and "no time passed" is the safe reading of it.
    public func duration(since earlier: BalancerTime) -> BalancerDuration {
        BalancerDuration(microseconds: rawValue >= earlier.rawValue ? rawValue - earlier.rawValue : 0)
    }

    public static func + (time: BalancerTime, duration: BalancerDuration) -> BalancerTime {
        BalancerTime(microseconds: time.rawValue + duration.rawValue)
    }

    public var description: String { "t=\(rawValue)µs" }
}

/// A length of time in microseconds: a latency, a window, an ejection time.
public struct BalancerDuration: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(microseconds: UInt64) { self.rawValue = microseconds }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func milliseconds(_ count: UInt64) -> BalancerDuration {
        BalancerDuration(microseconds: count * 1_000)
    }
    public static func seconds(_ count: UInt64) -> BalancerDuration {
        BalancerDuration(microseconds: count * 1_000_000)
    }
    public static func < (lhs: BalancerDuration, rhs: BalancerDuration) -> Bool { lhs.rawValue < rhs.rawValue }
    public static let zero: BalancerDuration = 0
    public var microseconds: UInt64 { rawValue }

    /// Multiplies without overflowing: an ejection time that doubles on every ejection saturates instead.
    public func saturatingMultiplied(by factor: UInt64) -> BalancerDuration {
        let (product, overflow) = rawValue.multipliedReportingOverflow(by: factor)
        return BalancerDuration(microseconds: overflow ? .max : product)
    }

    public var description: String {
        rawValue % 1_000 == 0 ? "\(rawValue / 1_000)ms" : "\(rawValue)µs"
    }
}

/// How much of the traffic a backend should get relative to the others: a backend of weight 2 gets twice the
/// share of one of weight 1. Fractional so that slow start can ramp even a weight-1 backend smoothly.
///
/// Invariant: finite and greater than zero. Remote input (a registry entry) goes through ``init(validating:)``.
public struct Weight: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, CustomStringConvertible
{
    public let rawValue: Double
    public init(rawValue: Double) {
        precondition(rawValue.isFinite && rawValue > 0, "a weight must be finite and greater than zero")
        self.rawValue = rawValue
    }
    public init(_ rawValue: Double) { self.init(rawValue: rawValue) }
    public init(integerLiteral value: Int) { self.init(rawValue: Double(value)) }
    public init(floatLiteral value: Double) { self.init(rawValue: value) }

    /// Checks a weight that came from outside the process (a registry entry, a configuration file).
    public init(validating rawValue: Double) throws(BalancingError) {
        guard rawValue.isFinite && rawValue > 0 else { throw .invalidWeight(rawValue) }
        self.rawValue = rawValue
    }

    public static let one: Weight = 1
    public static func < (lhs: Weight, rhs: Weight) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "weight \(rawValue)" }
}

/// A share between 0 and 100 percent: an error-rate threshold, a panic threshold, a limit on ejections.
public struct Percentage: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, CustomStringConvertible
{
    public let rawValue: Double
    public init(rawValue: Double) {
        precondition(rawValue >= 0 && rawValue <= 100, "a percentage must be between 0 and 100")
        self.rawValue = rawValue
    }
    public init(_ rawValue: Double) { self.init(rawValue: rawValue) }
    public init(integerLiteral value: Int) { self.init(rawValue: Double(value)) }
    public init(floatLiteral value: Double) { self.init(rawValue: value) }

    /// Checks a percentage that came from outside the process (a configuration file, a command-line flag).
    public init(validating rawValue: Double) throws(BalancingError) {
        guard rawValue >= 0 && rawValue <= 100 else {
            throw .invalidConfiguration("\(rawValue)% is not a percentage; give a value from 0 to 100")
        }
        self.rawValue = rawValue
    }

    public static func < (lhs: Percentage, rhs: Percentage) -> Bool { lhs.rawValue < rhs.rawValue }
    /// The share as a fraction between 0 and 1.
    public var fraction: Double { rawValue / 100 }
    public var description: String { "\(rawValue)%" }
}
