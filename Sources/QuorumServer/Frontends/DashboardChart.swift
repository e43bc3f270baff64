import Foundation

/// A line chart drawn as inline SVG, so that the page needs no script and no outside asset: one line per series
/// over a time window, broken where a series has no value.
struct DashboardChart {
    struct Series {
        var label: String
        var color: String
        var dashed = false
        var points: [DashboardHistory.Point]
    }

    var title: String
    /// How a value is written on the vertical axis.
    var format: (Double) -> String
    var series: [Series]
    var from: Date
    var to: Date

    private static let width = 320.0
    private static let height = 140.0
    private static let left = 52.0
    private static let right = 10.0
    private static let top = 10.0
    private static let bottom = 22.0

    func svg() -> String {
        let values = series.flatMap { $0.points.compactMap(\.value) }
        let ceiling = Self.niceCeiling(values.max() ?? 0)
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        let span = max(to.timeIntervalSince(from), 1)
        func x(_ date: Date) -> Double {
            Self.left + plotWidth * min(max(date.timeIntervalSince(from) / span, 0), 1)
        }
        func y(_ value: Double) -> Double { Self.top + plotHeight * (1 - min(max(value / ceiling, 0), 1)) }
        var svg = #"<svg class="chart" role="img" viewBox="0 0 \#(Int(Self.width)) \#(Int(Self.height))""#
        svg +=
            #" width="\#(Int(Self.width))" height="\#(Int(Self.height))" aria-label="\#(DashboardFormat.escape(title))">"#
        for fraction in [0.0, 0.5, 1.0] {
            let lineY = number(y(ceiling * fraction))
            svg +=
                #"<line x1="\#(number(Self.left))" x2="\#(number(Self.width - Self.right))" y1="\#(lineY)" y2="\#(lineY)" class="grid"/>"#
            svg += #"<text x="\#(number(Self.left - 4))" y="\#(number(y(ceiling * fraction) + 4))" text-anchor="end">"#
            svg += "\(fraction == 0 ? "0" : DashboardFormat.escape(format(ceiling * fraction)))</text>"
        }
        let labelY = number(Self.height - 6)
        svg += #"<text x="\#(number(Self.left))" y="\#(labelY)">−\#(DashboardFormat.age(from, now: to))</text>"#
        svg += #"<text x="\#(number(Self.width - Self.right))" y="\#(labelY)" text-anchor="end">now</text>"#
        for line in series {
            let dash = line.dashed ? #" stroke-dasharray="4 3""# : ""
            for segment in Self.segments(line.points) {
                let coordinates = segment.map { "\(number(x($0.at))),\(number(y($0.value)))" }
                if coordinates.count == 1, let point = segment.first {
                    svg +=
                        #"<circle cx="\#(number(x(point.at)))" cy="\#(number(y(point.value)))" r="2" fill="\#(line.color)"/>"#
                } else {
                    svg += #"<polyline fill="none" stroke="\#(line.color)" stroke-width="1.5"\#(dash)"#
                    svg += #" points="\#(coordinates.joined(separator: " "))"/>"#
                }
            }
        }
        return svg + "</svg>"
    }

    /// The runs of consecutive points that have a value.
    static func segments(_ points: [DashboardHistory.Point]) -> [[(at: Date, value: Double)]] {
        var segments: [[(at: Date, value: Double)]] = []
        var current: [(at: Date, value: Double)] = []
        for point in points {
            if let value = point.value {
                current.append((point.at, value))
            } else if !current.isEmpty {
                segments.append(current)
                current = []
            }
        }
        if !current.isEmpty { segments.append(current) }
        return segments
    }

    /// The smallest of 1, 2 or 5 times a power of ten at or above `value`: the top of the axis. 1 for nothing.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        var power = pow(10, (log10(value)).rounded(.down))
        while power * 10 < value { power *= 10 }
        return [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= value * (1 - 1e-12) } ?? power * 10
    }

    private func number(_ value: Double) -> String { DashboardFormat.decimal(value, places: 1) }
}
