/// Redis's glob patterns, for KEYS and SCAN MATCH: `*`, `?`, `[abc]`, `[^a-z]`, and `\` escaping the next byte.
/// Matches in O(pattern × key) by backtracking only to the last `*`, so no pattern can make a node spin.
struct RedisGlob: Sendable {
    let pattern: [UInt8]

    init(_ pattern: [UInt8]) { self.pattern = pattern }

    func matches(_ key: [UInt8]) -> Bool {
        var patternIndex = 0
        var keyIndex = 0
        var star: (pattern: Int, key: Int)?
        while keyIndex < key.count {
            if patternIndex < pattern.count, pattern[patternIndex] == UInt8(ascii: "*") {
                star = (patternIndex, keyIndex)
                patternIndex += 1
                continue
            }
            if patternIndex < pattern.count, let next = matchOne(at: patternIndex, key[keyIndex]) {
                patternIndex = next
                keyIndex += 1
                continue
            }
            guard let backtrack = star else { return false }
            // Let the last star swallow one more byte, and try again from just after it.
            star = (backtrack.pattern, backtrack.key + 1)
            patternIndex = backtrack.pattern + 1
            keyIndex = backtrack.key + 1
        }
        while patternIndex < pattern.count, pattern[patternIndex] == UInt8(ascii: "*") { patternIndex += 1 }
        return patternIndex == pattern.count
    }

    /// If the single-byte token at `index` matches `byte`, the index after the token.
    private func matchOne(at index: Int, _ byte: UInt8) -> Int? {
        switch pattern[index] {
        case UInt8(ascii: "?"):
            return index + 1
        case UInt8(ascii: "\\") where index + 1 < pattern.count:
            return pattern[index + 1] == byte ? index + 2 : nil
        case UInt8(ascii: "["):
            var cursor = index + 1
            let negated = cursor < pattern.count && pattern[cursor] == UInt8(ascii: "^")
            if negated { cursor += 1 }
            var matched = false
            while cursor < pattern.count, pattern[cursor] != UInt8(ascii: "]") {
                if pattern[cursor] == UInt8(ascii: "\\"), cursor + 1 < pattern.count {
                    matched = matched || pattern[cursor + 1] == byte
                    cursor += 2
                } else if cursor + 2 < pattern.count, pattern[cursor + 1] == UInt8(ascii: "-"),
                    pattern[cursor + 2] != UInt8(ascii: "]")
                {
                    let (low, high) = (
                        min(pattern[cursor], pattern[cursor + 2]), max(pattern[cursor], pattern[cursor + 2])
                    )
                    matched = matched || (low...high).contains(byte)
                    cursor += 3
                } else {
                    matched = matched || pattern[cursor] == byte
                    cursor += 1
                }
            }
            // An unclosed class ends with the pattern, as in Redis.
            let next = min(cursor + 1, pattern.count)
            return matched != negated ? next : nil
        default:
            return pattern[index] == byte ? index + 1 : nil
        }
    }
}
