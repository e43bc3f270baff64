/// Successes and failures over a sliding time window, kept in a fixed number of buckets so that memory stays
/// constant however many requests a backend serves.
///
/// The window slides one bucket at a time, so it covers between `bucketCount − 1` and `bucketCount` buckets of
/// history: coarse, but an error-rate rule does not need more.
struct OutcomeWindow: Hashable, Sendable {
    static let bucketCount: UInt64 = 10

    struct Bucket: Hashable, Sendable {
        var index: UInt64
        var successes: Int
        var failures: Int
    }

    let bucketWidth: UInt64
    /// Invariant: at most `bucketCount` buckets, in increasing index order, none older than the window.
    private var buckets: [Bucket] = []

    init(window: BalancerDuration) {
        bucketWidth = max(1, window.microseconds / Self.bucketCount)
    }

    mutating func record(_ outcome: RequestOutcome, now: BalancerTime) {
        let index = now.microseconds / bucketWidth
        discardExpired(now: now)
        // A clock that stepped back lands in the newest bucket rather than reordering the buckets.
        if buckets.last.map({ $0.index < index }) ?? true {
            buckets.append(Bucket(index: index, successes: 0, failures: 0))
        }
        switch outcome {
        case .success: buckets[buckets.count - 1].successes += 1
        case .failure: buckets[buckets.count - 1].failures += 1
        case .cancelled: break
        }
    }

    /// (requests, failures) within the window ending at `now`.
    func totals(now: BalancerTime) -> (requests: Int, failures: Int) {
        let oldest = oldestIndex(now: now)
        var requests = 0
        var failures = 0
        for bucket in buckets where bucket.index >= oldest {
            requests += bucket.successes + bucket.failures
            failures += bucket.failures
        }
        return (requests, failures)
    }

    mutating func reset() { buckets.removeAll() }

    private func oldestIndex(now: BalancerTime) -> UInt64 {
        let current = now.microseconds / bucketWidth
        return current >= Self.bucketCount - 1 ? current - (Self.bucketCount - 1) : 0
    }

    private mutating func discardExpired(now: BalancerTime) {
        let oldest = oldestIndex(now: now)
        buckets.removeAll { $0.index < oldest }
    }
}
