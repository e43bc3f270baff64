/// A Redis sorted set: distinct members, each with a score, ordered by score and then by member bytes, as Redis
/// orders them.
struct RedisSortedSet {
    struct Entry: Equatable {
        var member: [UInt8]
        var score: Double
    }

    /// Sorted by (score, member).
    private(set) var entries: [Entry] = []
    private var scores: [[UInt8]: Double] = [:]

    init() {}

    init(_ value: RedisTypedValue) throws(RedisTypedValueError) {
        guard value.elements.count % 2 == 0 else { throw .invalid("a sorted set has a member without a score") }
        for index in stride(from: 0, to: value.elements.count, by: 2) {
            let scoreBytes = value.elements[index + 1]
            guard scoreBytes.count == 8 else { throw .invalid("a score is not 8 bytes") }
            let score = Double(bitPattern: scoreBytes.reduce(0) { $0 << 8 | UInt64($1) })
            guard !score.isNaN else { throw .invalid("a score is not a number") }
            let entry = Entry(member: value.elements[index], score: score)
            guard scores.updateValue(score, forKey: entry.member) == nil else {
                throw .invalid("a sorted set repeats a member")
            }
            if let last = entries.last, !Self.precedes(last, entry) { throw .invalid("a sorted set is out of order") }
            entries.append(entry)
        }
    }

    var typedValue: RedisTypedValue {
        let elements = entries.flatMap { entry -> [[UInt8]] in
            let bits = entry.score.bitPattern
            return [entry.member, (0..<8).reversed().map { UInt8(truncatingIfNeeded: bits >> (UInt64($0) * 8)) }]
        }
        return RedisTypedValue(kind: .sortedSet, elements: elements)
    }

    var count: Int { entries.count }

    func score(of member: [UInt8]) -> Double? { scores[member] }

    /// Sets a member's score (-0 is stored as 0, as Redis prints it).
    mutating func set(_ member: [UInt8], _ score: Double) {
        _ = remove(member)
        let entry = Entry(member: member, score: score + 0)
        let position = firstIndex { !Self.precedes($0, entry) }
        entries.insert(entry, at: position)
        scores[member] = entry.score
    }

    mutating func remove(_ member: [UInt8]) -> Bool {
        guard let score = scores.removeValue(forKey: member) else { return false }
        let position = firstIndex { !Self.precedes($0, Entry(member: member, score: score)) }
        entries.remove(at: position)
        return true
    }

    mutating func remove(at positions: Range<Int>) {
        for entry in entries[positions] { scores[entry.member] = nil }
        entries.removeSubrange(positions)
    }

    /// The positions of the entries whose scores lie between `min` and `max`.
    func positions(scoresFrom min: ScoreBound, to max: ScoreBound) -> Range<Int> {
        let lower = firstIndex { !min.isBelow($0.score) }
        let upper = firstIndex { !max.admits($0.score) }
        return lower..<Swift.max(lower, upper)
    }

    /// The positions of the entries whose members lie between `min` and `max`. Meaningful when all scores are equal;
    /// otherwise the members are not in order, and the answer is Redis's: from the first member at or above `min`
    /// (from the last at or below `max` when `reverse`) on, as long as members stay within the other bound.
    func positions(membersFrom min: LexBound, to max: LexBound, reverse: Bool) -> Range<Int> {
        guard let first = entries.first, let last = entries.last, !min.isEmptyRange(to: max),
            min.admitsAsMinimum(last.member), max.admitsAsMaximum(first.member)
        else { return 0..<0 }
        if reverse {
            guard let end = entries.lastIndex(where: { max.admitsAsMaximum($0.member) }) else { return 0..<0 }
            var start = end + 1
            while start > 0, min.admitsAsMinimum(entries[start - 1].member) { start -= 1 }
            return start..<end + 1
        }
        guard let start = entries.firstIndex(where: { min.admitsAsMinimum($0.member) }) else { return 0..<0 }
        var end = start
        while end < entries.count, max.admitsAsMaximum(entries[end].member) { end += 1 }
        return start..<end
    }

    /// The first position whose entry satisfies `condition`, which must be false then true along the order.
    private func firstIndex(where condition: (Entry) -> Bool) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if condition(entries[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }

    private static func precedes(_ a: Entry, _ b: Entry) -> Bool {
        a.score < b.score || (a.score == b.score && a.member.lexicographicallyPrecedes(b.member))
    }

    /// A score as Redis reads one (strtod): decimal or hexadecimal, `inf`, `-inf`; never NaN, no blanks, no
    /// overflow to infinity or underflow to zero.
    static func score(_ bytes: [UInt8]) -> Double? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let value = Double(text), !value.isNaN else { return nil }
        let unsigned = text.lowercased().drop { $0 == "+" || $0 == "-" }
        if value.isInfinite, unsigned != "inf", unsigned != "infinity" { return nil }
        let mantissa = unsigned.prefix(while: { $0 != "e" && $0 != "p" })
        if value == 0, mantissa.contains(where: { ("1"..."9").contains($0) }) {
            return nil
        }
        return value
    }

    /// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
    struct ScoreBound {
        var value: Double
        var exclusive: Bool

        init?(_ bytes: [UInt8]) {
            exclusive = bytes.first == UInt8(ascii: "(")
            guard let value = RedisSortedSet.score(Array(bytes.dropFirst(exclusive ? 1 : 0))) else { return nil }
            self.value = value
        }

        /// Whether `score` lies below this bound taken as a minimum.
        func isBelow(_ score: Double) -> Bool { exclusive ? score <= value : score < value }

        /// Whether `score` is within this bound taken as a maximum.
        func admits(_ score: Double) -> Bool { exclusive ? score < value : score <= value }
    }

    /// One end of a member range: `-`, `+`, `[member` (inclusive), `(member` (exclusive).
    enum LexBound {
        case lowest, highest
        case inclusive([UInt8]), exclusive([UInt8])

        init?(_ bytes: [UInt8]) {
            switch bytes.first {
            case UInt8(ascii: "-") where bytes.count == 1: self = .lowest
            case UInt8(ascii: "+") where bytes.count == 1: self = .highest
            case UInt8(ascii: "["): self = .inclusive(Array(bytes.dropFirst()))
            case UInt8(ascii: "("): self = .exclusive(Array(bytes.dropFirst()))
            default: return nil
            }
        }

        /// Whether no member can lie between this bound as a minimum and `max`, as Redis judges it up front.
        func isEmptyRange(to max: LexBound) -> Bool {
            func rank(_ bound: LexBound) -> Int {
                switch bound {
                case .lowest: 0
                case .inclusive, .exclusive: 1
                case .highest: 2
                }
            }
            switch (self, max) {
            case (.inclusive(let low), .inclusive(let high)): return high.lexicographicallyPrecedes(low)
            case (.inclusive(let low), .exclusive(let high)), (.exclusive(let low), .inclusive(let high)),
                (.exclusive(let low), .exclusive(let high)):
                return !low.lexicographicallyPrecedes(high)
            default: return rank(self) > rank(max) || (rank(self) == rank(max) && rank(self) != 1)
            }
        }

        func admitsAsMinimum(_ member: [UInt8]) -> Bool {
            switch self {
            case .lowest: true
            case .highest: false
            case .inclusive(let bound): !member.lexicographicallyPrecedes(bound)
            case .exclusive(let bound): bound.lexicographicallyPrecedes(member)
            }
        }

        func admitsAsMaximum(_ member: [UInt8]) -> Bool {
            switch self {
            case .lowest: false
            case .highest: true
            case .inclusive(let bound): !bound.lexicographicallyPrecedes(member)
            case .exclusive(let bound): member.lexicographicallyPrecedes(bound)
            }
        }
    }
}
