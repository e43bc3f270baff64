/// A half-open range of keys `[start, end)` in byte order; `end` nil runs to the end of the key space.
public struct KeySpan: Hashable, Sendable, CustomStringConvertible {
    public var start: [UInt8]
    public var end: [UInt8]?

    /// Nil when `end` does not come after `start`.
    public init?(start: [UInt8], end: [UInt8]?) {
        if let end, !start.lexicographicallyPrecedes(end) { return nil }
        self.start = start
        self.end = end
    }

    /// Every key that starts with `prefix`.
    public init(prefix: [UInt8]) {
        start = prefix
        end = Self.prefixEnd(of: prefix)
    }

    public func contains(_ key: some Collection<UInt8>) -> Bool {
        !key.lexicographicallyPrecedes(start) && (end.map { key.lexicographicallyPrecedes($0) } ?? true)
    }

    public func overlaps(_ other: KeySpan) -> Bool {
        Self.precedes(start, other.end) && Self.precedes(other.start, end)
    }

    /// Whether `other` lies wholly within this span.
    public func covers(_ other: KeySpan) -> Bool {
        !other.start.lexicographicallyPrecedes(start) && !Self.endPrecedes(end, other.end)
    }

    /// Whether `key` sorts before `end` (nil: the end of the key space, after every key).
    public static func precedes(_ key: [UInt8], _ end: [UInt8]?) -> Bool {
        guard let end else { return true }
        return key.lexicographicallyPrecedes(end)
    }

    /// Whether `end` (nil: the end of the key space) sorts before `other`.
    static func endPrecedes(_ end: [UInt8]?, _ other: [UInt8]?) -> Bool {
        guard let end else { return false }
        return precedes(end, other)
    }

    /// The first key after every key that starts with `prefix`; nil if there is none (a prefix of 0xff bytes).
    public static func prefixEnd(of prefix: [UInt8]) -> [UInt8]? {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return nil
    }

    public var description: String {
        "[\(Self.printable(start)), \(end.map(Self.printable) ?? "end"))"
    }

    static func printable(_ key: [UInt8]) -> String {
        key.allSatisfy { $0 >= 0x20 && $0 < 0x7f } ? "\"" + String(decoding: key, as: UTF8.self) + "\"" : "\(key)"
    }
}
