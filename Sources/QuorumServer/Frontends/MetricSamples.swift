/// The samples of a Prometheus text exposition, read back: what the dashboard shows is exactly what `/metrics`
/// says, as a Grafana panel would show it, with no second set of counters to drift from the first.
struct MetricSamples {
    /// Each sample line's value, by metric name, then by its label set as written (`node="1",type="write"`).
    private var samples: [String: [String: Double]] = [:]

    init(exposition: String) {
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
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

    /// The `quantile` (0...1) of histogram `name` from its cumulative buckets, interpolating linearly inside the
    /// bucket it falls in, as PromQL's `histogram_quantile` does; nil without observations.
    func quantile(_ quantile: Double, ofHistogram name: String) -> Double? {
        let buckets = (samples[name + "_bucket"] ?? [:]).compactMap {
            labels, count -> (bound: Double, count: Double)? in
            guard let range = labels.range(of: #"le=""#) else { return nil }
            let bound = labels[range.upperBound...].prefix { $0 != "\"" }
            return bound == "+Inf" ? (.infinity, count) : Double(bound).map { ($0, count) }
        }.sorted { $0.bound < $1.bound }
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
