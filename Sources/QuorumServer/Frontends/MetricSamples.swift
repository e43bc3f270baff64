/// The samples of a Prometheus text exposition, read back: what the dashboard shows is exactly what `/metrics`
/// says, as a Grafana panel would show it, with no second set of counters to drift from the first.
struct MetricSamples {
    /// Each sample line's value, by metric name, then by its label set as written (`node="1",type="write"`).
    private var samples: [String: [String: Double]] = [:]

    init(exposition: String) {
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]),
                value.isFinite
            else {
                continue
            }
            let series = line[..<space]
            let (name, labels) =
                if let brace = series.firstIndex(of: "{"), series.last == "}" {
                    (series[..<brace], series[series.index(after: brace)..<series.index(before: series.endIndex)])
                } else {
                    (series, series[series.endIndex...])
                }
            samples[String(name), default: [:]][String(labels)] = value
        }
    }

    /// The value of `name`'s sample whose labels contain every one of `matching` (`type="write"`), summed over
    /// the samples that match; nil if none does.
    func value(_ name: String, matching: [String] = []) -> Double? {
        let found = (samples[name] ?? [:]).filter { labels, _ in matching.allSatisfy { labels.contains($0) } }
        return found.isEmpty ? nil : found.values.reduce(0, +)
    }

    /// Histogram `name`'s cumulative buckets, summed over its label sets.
    func histogram(_ name: String) -> Histogram {
        var counts: [Double: Double] = [:]
        for (labels, count) in samples[name + "_bucket"] ?? [:] {
            guard let range = labels.range(of: #"le=""#) else { continue }
            let bound = labels[range.upperBound...].prefix { $0 != "\"" }
            guard let bound = bound == "+Inf" ? .infinity : Double(bound) else { continue }
            counts[bound, default: 0] += count
        }
        return Histogram(buckets: counts.sorted { $0.key < $1.key }.map { (bound: $0.key, count: $0.value) })
    }

    /// The `quantile` (0...1) of histogram `name`; nil without observations.
    func quantile(_ quantile: Double, ofHistogram name: String) -> Double? {
        histogram(name).quantile(quantile)
    }

    /// A Prometheus histogram: counts of observations at or below each bound, in increasing order of bound.
    struct Histogram: Equatable {
        var buckets: [(bound: Double, count: Double)]

        static func == (left: Histogram, right: Histogram) -> Bool {
            left.buckets.elementsEqual(right.buckets) { $0.bound == $1.bound && $0.count == $1.count }
        }

        /// What was observed after `earlier` (the same histogram read before): the counts' differences, bound by
        /// bound. A counter that went back (the node restarted) gives nothing rather than a negative rate.
        func since(_ earlier: Histogram) -> Histogram {
            guard earlier.buckets.map(\.bound) == buckets.map(\.bound) else { return Histogram(buckets: []) }
            let differences = zip(buckets, earlier.buckets).map { now, then in
                (bound: now.bound, count: now.count - then.count)
            }
            guard differences.allSatisfy({ $0.count >= 0 }) else { return Histogram(buckets: []) }
            return Histogram(buckets: differences)
        }

        /// The `quantile` (0...1) from the cumulative buckets, interpolating linearly inside the bucket it falls
        /// in, as PromQL's `histogram_quantile` does; nil without observations.
        func quantile(_ quantile: Double) -> Double? {
            guard let total = buckets.last?.count, total > 0 else { return nil }
            let rank = quantile * total
            var lower = (bound: 0.0, count: 0.0)
            for bucket in buckets {
                if bucket.count >= rank {
                    // Past the last finite bound nothing is known but that bound.
                    guard bucket.bound.isFinite else { return lower.bound }
                    let inBucket = bucket.count - lower.count
                    let fraction = inBucket > 0 ? (rank - lower.count) / inBucket : 1
                    return lower.bound + (bucket.bound - lower.bound) * fraction
                }
                lower = bucket
            }
            return lower.bound
        }
    }
}
