import QuorumSharding

/// A read of one key, a [key, rangeEnd) interval, or every key from `key` on (`rangeEnd == [0]`), at the current
/// or a past revision. Results are sorted by key ascending.
public struct RangeRequest: Hashable, Sendable {
    public var key: [UInt8]
    /// nil or empty: only `key` (empty as in etcd, whose protocol cannot tell the two apart). `[0]`: every
    /// key >= `key`. Otherwise the exclusive end of [key, rangeEnd).
    public var rangeEnd: [UInt8]?
    /// At most this many key-values are returned; 0 means no limit. `count` still counts every match.
    public var limit: Int
    /// nil reads the latest state.
    public var revision: Revision?
    public var keysOnly: Bool
    public var countOnly: Bool

    public init(
        key: [UInt8], rangeEnd: [UInt8]? = nil, limit: Int = 0, revision: Revision? = nil, keysOnly: Bool = false,
        countOnly: Bool = false
    ) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.limit = limit
        self.revision = revision
        self.keysOnly = keysOnly
        self.countOnly = countOnly
    }

    /// Every key that starts with `prefix`.
    public static func prefix(
        _ prefix: [UInt8], limit: Int = 0, revision: Revision? = nil, keysOnly: Bool = false, countOnly: Bool = false
    ) -> RangeRequest {
        RangeRequest(
            key: prefix, rangeEnd: KeyRange.prefixEnd(of: prefix), limit: limit, revision: revision,
            keysOnly: keysOnly, countOnly: countOnly)
    }

    /// Every key in the store.
    public static func all(limit: Int = 0, revision: Revision? = nil) -> RangeRequest {
        RangeRequest(key: [0], rangeEnd: [0], limit: limit, revision: revision)
    }
}

/// The key interval a request names, in etcd's encoding.
/// Key intervals as etcd names them: a single key (no end), [key, rangeEnd), or everything from key (end `[0]`).
public enum KeyRange {
    /// The smallest key greater than every key with this prefix; `[0]` (meaning "to the end") when none exists.
    public static func prefixEnd(of prefix: [UInt8]) -> [UInt8] { KeySpan.prefixEnd(of: prefix) ?? [0] }

    /// Whether `candidate` lies in the interval (key, rangeEnd) names.
    public static func contains(_ candidate: [UInt8], key: [UInt8], rangeEnd: [UInt8]?) -> Bool {
        guard let rangeEnd, !rangeEnd.isEmpty else { return candidate == key }
        if compareKeys(candidate, key) < 0 { return false }
        if rangeEnd == [0] { return true }
        return compareKeys(candidate, rangeEnd) < 0
    }
}

/// Lexicographic byte order: negative, zero or positive as `lhs` sorts before, equal to or after `rhs`.
@inline(__always)
func compareKeys(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int {
    lhs.withUnsafeBufferPointer { left in
        rhs.withUnsafeBufferPointer { right in
            let common = min(left.count, right.count)
            var index = 0
            while index < common {
                let a = left[index]
                let b = right[index]
                if a != b { return a < b ? -1 : 1 }
                index += 1
            }
            return left.count - right.count
        }
    }
}
