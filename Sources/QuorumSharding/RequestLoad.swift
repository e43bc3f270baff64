/// The keys of a group's most recent requests, each with when it came: enough to tell a span's request rate and the
/// key that splits its load into two halves, for splitting hot spans (as CockroachDB splits ranges by load). Pure:
/// the caller passes the time.
///
/// It keeps at most `capacity` requests from the last `window`. The split key is the median of the span's requests'
/// keys, so each half would take about half of them; there is none while a single key takes more than three quarters
/// of the span's requests (splitting cannot spread one key's load), or while too few requests were seen to tell.
public struct RequestLoad: Sendable {
    public let capacity: Int
    public let windowMilliseconds: Int64
    /// A ring: the oldest request is at `next` once it is full.
    private var keys: [[UInt8]] = []
    private var times: [Int64] = []
    private var next = 0
    /// Requests in a span fewer than this give no split key.
    public static let samplesMin = 16

    public init(capacity: Int = 1024, windowMilliseconds: Int64 = 10_000) {
        self.capacity = max(1, capacity)
        self.windowMilliseconds = max(1, windowMilliseconds)
    }

    public mutating func record(_ key: [UInt8], at milliseconds: Int64) {
        if keys.count < capacity {
            keys.append(key)
            times.append(milliseconds)
        } else {
            keys[next] = key
            times[next] = milliseconds
            next = (next + 1) % capacity
        }
    }

    /// The span's requests per second over the window (or over the time the kept requests cover, if they fill the
    /// ring before the window is over), and its split key by load.
    public func load(of span: KeySpan, at now: Int64) -> SpanLoad {
        let since = now - windowMilliseconds
        var inSpan: [[UInt8]] = []
        var oldest = now
        for (key, time) in zip(keys, times) where time > since {
            oldest = min(oldest, time)
            if span.contains(key) { inSpan.append(key) }
        }
        let full = keys.count == capacity && times[next] > since
        let covered = full ? max(1, now - oldest) : windowMilliseconds
        let perSecond = Int(min(Int64(inSpan.count) * 1000 / covered, Int64(Int.max)))
        return SpanLoad(requestsPerSecond: perSecond, splitKey: Self.median(of: &inSpan, in: span))
    }

    private static func median(of keys: inout [[UInt8]], in span: KeySpan) -> [UInt8]? {
        guard keys.count >= samplesMin else { return nil }
        keys.sort { $0.lexicographicallyPrecedes($1) }
        let median = keys[keys.count / 2]
        let below = keys.partitioningIndex { !$0.lexicographicallyPrecedes(median) }
        let fromMedian = keys.count - below
        // A split at the median leaves `below` requests on one side; too few means one key dominates.
        guard median != span.start, below * 4 >= keys.count, fromMedian * 4 >= keys.count else { return nil }
        let atMedian = keys[below...].prefix { $0 == median }.count
        guard atMedian * 4 <= keys.count * 3 else { return nil }
        return median
    }
}

/// A span's request rate, and where to split it so that each half takes about half its requests (nil: nowhere).
public struct SpanLoad: Hashable, Sendable {
    public var requestsPerSecond: Int
    public var splitKey: [UInt8]?

    public init(requestsPerSecond: Int, splitKey: [UInt8]?) {
        self.requestsPerSecond = requestsPerSecond
        self.splitKey = splitKey
    }
}

extension Array {
    /// The first index whose element satisfies `predicate`, which must be false for a prefix and true after it.
    fileprivate func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var (low, high) = (0, count)
        while low < high {
            let middle = (low + high) / 2
            if predicate(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
