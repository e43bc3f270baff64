/// The keys a move concerns: some hash slots, or a span of a range-sharded keyspace.
public enum KeySelector: Hashable, Sendable, CustomStringConvertible {
    case slots(ClosedRange<Int>)
    case span(KeySpan)

    public func contains(_ key: some Collection<UInt8>) -> Bool {
        switch self {
        case .slots(let slots): slots.contains(HashSlot(key: key).rawValue)
        case .span(let span): span.contains(key)
        }
    }

    public var description: String {
        switch self {
        case .slots(let slots): "slots \(slots.lowerBound)-\(slots.upperBound)"
        case .span(let span): "keys \(span)"
        }
    }
}
