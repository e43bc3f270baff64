import Foundation

/// A line chart with a logarithmic y axis, written as SVG by hand: the picture is plain text, diffs well and needs
/// no plotting library.
struct SVGChart {
    struct Series {
        var name: String
        var color: String
        var values: [Double]
    }

    var title: String
    var subtitle: String
    var xLabel: String
    var yLabel: String
    var xValues: [Double]
    var series: [Series]
    /// A dashed horizontal line for comparison, with its legend label.
    var reference: (label: String, value: Double)?

    let width = 790.0
    let height = 480.0
    let left = 70.0
    let right = 230.0
    let top = 60.0
    let bottom = 60.0
    /// Values above this are drawn at the top edge and marked as off the chart (a saturated queue).
    let yMaximum = 200.0

    private var plotWidth: Double { width - left - right }
    private var plotHeight: Double { height - top - bottom }
    private var yMinimum: Double { pow(10, floor(log10(series.flatMap(\.values).min()!))) }

    private func x(_ value: Double) -> Double {
        left + (value - xValues.first!) / (xValues.last! - xValues.first!) * plotWidth
    }

    private func y(_ value: Double) -> Double {
        let clamped = min(max(value, yMinimum), yMaximum)
        let fraction = (log10(clamped) - log10(yMinimum)) / (log10(yMaximum) - log10(yMinimum))
        return top + plotHeight * (1 - fraction)
    }

    func render() -> String {
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """
        svg += text(title, x: left, y: 24, attributes: #"font-size="16" font-weight="bold""#)
        svg += text(subtitle, x: left, y: 42, attributes: ##"font-size="11" fill="#555""##)
        svg += axes()
        let legendX = left + plotWidth + 16
        var legendY = top + 10
        if let reference {
            svg += line(left, y(reference.value), left + plotWidth, y(reference.value), "#777", dashed: true)
            svg += legendEntry(reference.label, color: "#777", dashed: true, x: legendX, y: top + 10 + 22 * 4)
        }
        for entry in series {
            let points = zip(xValues, entry.values).map { "\(format(x($0))),\(format(y($1)))" }
            svg += #"<polyline fill="none" stroke="\#(entry.color)" stroke-width="2" "#
            svg += #"points="\#(points.joined(separator: " "))"/>"# + "\n"
            for (xValue, value) in zip(xValues, entry.values) {
                let off = value > yMaximum
                svg += #"<circle cx="\#(format(x(xValue)))" cy="\#(format(y(value)))" r="\#(off ? 4 : 2.5)" "#
                svg += #"fill="\#(off ? "white" : entry.color)" stroke="\#(entry.color)">"#
                svg += "<title>\(escape(entry.name)) at \(Int(xValue))%: p99 \(format(value)) ms</title></circle>\n"
            }
            svg += legendEntry(entry.name, color: entry.color, dashed: false, x: legendX, y: legendY)
            legendY += 22
        }
        if reference != nil { legendY += 22 }
        svg += #"<circle cx="\#(format(legendX + 12))" cy="\#(format(legendY + 10))" r="4" fill="white" "#
        svg += ##"stroke="#333"/>"## + "\n"
        svg += text("off the chart:", x: legendX + 30, y: legendY + 10, attributes: #"dominant-baseline="middle""#)
        svg += text(
            "a queue that only grows", x: legendX + 30, y: legendY + 25, attributes: #"dominant-baseline="middle""#)
        return svg + "</svg>\n"
    }

    /// The frame, the grid, ticks at 1, 2 and 5 times each power of ten, and the axis labels.
    private func axes() -> String {
        var svg = ""
        var decade = yMinimum
        while decade < yMaximum {
            for multiple in [1.0, 2.0, 5.0] where decade * multiple < yMaximum {
                svg += yTick(decade * multiple, label: tick(decade * multiple))
            }
            decade *= 10
        }
        svg += yTick(yMaximum, label: "≥" + tick(yMaximum))
        for value in xValues where Int(value) % 10 == 0 {
            svg += line(x(value), top, x(value), top + plotHeight, "#f0f0f0")
            svg += text("\(Int(value))%", x: x(value), y: top + plotHeight + 18, attributes: #"text-anchor="middle""#)
        }
        svg += #"<rect x="\#(format(left))" y="\#(format(top))" width="\#(format(plotWidth))" "#
        svg += ##"height="\##(format(plotHeight))" fill="none" stroke="#333"/>"## + "\n"
        svg += text(xLabel, x: left + plotWidth / 2, y: height - 16, attributes: #"text-anchor="middle""#)
        svg += #"<text transform="translate(18 \#(format(top + plotHeight / 2))) rotate(-90)" "#
        svg += #"text-anchor="middle">\#(escape(yLabel))</text>"# + "\n"
        return svg
    }

    private func yTick(_ value: Double, label: String) -> String {
        line(left, y(value), left + plotWidth, y(value), "#e5e5e5")
            + text(label, x: left - 6, y: y(value), attributes: #"text-anchor="end" dominant-baseline="middle""#)
    }

    private func legendEntry(_ label: String, color: String, dashed: Bool, x: Double, y: Double) -> String {
        line(x, y, x + 24, y, color, width: 2, dashed: dashed)
            + text(label, x: x + 30, y: y, attributes: #"dominant-baseline="middle""#)
    }

    private func line(
        _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ color: String, width: Double = 1,
        dashed: Bool = false
    ) -> String {
        #"<line x1="\#(format(x1))" y1="\#(format(y1))" x2="\#(format(x2))" y2="\#(format(y2))" "#
            + #"stroke="\#(color)" stroke-width="\#(width)"\#(dashed ? #" stroke-dasharray="6 4""# : "")/>"# + "\n"
    }

    private func text(_ content: String, x: Double, y: Double, attributes: String) -> String {
        #"<text x="\#(format(x))" y="\#(format(y))" \#(attributes)>\#(escape(content))</text>"# + "\n"
    }

    private func format(_ value: Double) -> String { String(format: "%.1f", value) }

    private func tick(_ value: Double) -> String {
        value >= 1 ? String(Int(value)) : String(format: "%g", value)
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
