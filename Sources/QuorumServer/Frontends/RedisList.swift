/// A Redis list: elements in order, the head first.
struct RedisList {
    var elements: [[UInt8]]

    init(_ value: RedisTypedValue) { elements = value.elements }

    init() { elements = [] }

    var typedValue: RedisTypedValue { RedisTypedValue(kind: .list, elements: elements) }

    /// The elements from rank `start` to `stop`, both included, negative ranks counted from the tail, as LRANGE
    /// and ZRANGE take them.
    static func clampedRange(start: Int64, stop: Int64, count: Int) -> Range<Int>? {
        let length = Int64(count)
        var lower = start < 0 ? max(0, length + start) : start
        let upper = stop < 0 ? length + stop : min(stop, length - 1)
        lower = min(lower, length)
        guard lower <= upper, upper >= 0 else { return nil }
        return Int(lower)..<Int(upper + 1)
    }
}
