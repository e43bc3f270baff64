/// A quantity carried as a `UInt64` that must never be mixed up with another (one type per quantity).
public protocol UInt64Quantity: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible
where IntegerLiteralType == UInt64 {
    var rawValue: UInt64 { get set }
    init(_ rawValue: UInt64)
}

extension UInt64Quantity {
    public init(integerLiteral value: UInt64) { self.init(value) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A member of a consensus group. Zero is reserved to mean "nobody" on the wire, so valid ids start at 1.
public struct NodeID: UInt64Quantity {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "n\(rawValue)" }
}

/// A Raft term (or a Paxos ballot round): a logical clock that only moves forward.
public struct Term: UInt64Quantity {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var next: Term { Term(rawValue + 1) }
    public var description: String { "t\(rawValue)" }

    /// The largest term a message may carry, unless it is the recipient's own term plus one. A correct cluster
    /// never comes near it (one election a millisecond takes 146 million years), and the term is durable, so
    /// a forged term of 2^64-1 would make `next` trap at the next election on every restart. Past the ceiling,
    /// one step at a time is still allowed, so a cluster that a forger pushed to it goes on electing leaders.
    public static let ceiling = Term(1 << 62)
}

/// A position in the replicated log. Index 0 is the empty prefix; the first entry has index 1.
public struct LogIndex: UInt64Quantity, Strideable {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public func distance(to other: LogIndex) -> Int { Int(other.rawValue) - Int(rawValue) }
    public func advanced(by n: Int) -> LogIndex { LogIndex(UInt64(Int(rawValue) + n)) }
    // Strideable brings a `<` and an `==` of its own, computed through `distance(to:)`, which traps beyond
    // `Int.max`; comparing the raw values never does.
    public static func < (lhs: LogIndex, rhs: LogIndex) -> Bool { lhs.rawValue < rhs.rawValue }
    public static func == (lhs: LogIndex, rhs: LogIndex) -> Bool { lhs.rawValue == rhs.rawValue }
    public static let zero: LogIndex = 0
    public var description: String { "i\(rawValue)" }

    /// The largest index a message may carry. The core does index arithmetic in `Int`, and a correct log never
    /// comes near it; anything above it is a forgery or corruption, refused before it reaches arithmetic.
    public static let ceiling = LogIndex(1 << 62)
}

/// One consensus group on a node. A node hosts many (shards, metadata), so every peer message, log record and
/// request names its group, even while there is only one.
public struct GroupID: UInt64Quantity {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "g\(rawValue)" }
}
