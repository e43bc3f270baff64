import Foundation

/// How the dashboard spells its figures: times in UTC, durations, sizes, and HTML-escaped text.
enum DashboardFormat {
    /// `02:41:07 UTC`.
    static func time(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let ofDay = ((seconds % 86_400) + 86_400) % 86_400
        return "\(twoDigits(ofDay / 3600)):\(twoDigits(ofDay / 60 % 60)):\(twoDigits(ofDay % 60)) UTC"
    }

    /// How long ago `date` was: `12 s`, `3 min 4 s`, `2 h 5 min`.
    static func age(_ date: Date, now: Date) -> String {
        let seconds = max(0, Int64(now.timeIntervalSince(date).rounded()))
        if seconds < 60 { return "\(seconds) s" }
        if seconds < 3600 { return "\(seconds / 60) min \(seconds % 60) s" }
        return "\(seconds / 3600) h \(seconds / 60 % 60) min"
    }

    static func bytes(_ bytes: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = bytes
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int64(value)) B" : "\(decimal(value, places: 1)) \(units[unit])"
    }

    /// A whole number; "–" for none, or for one no Int64 holds (a member's metrics are not trusted).
    static func count(_ value: Double?) -> String {
        guard let value, let whole = Int64(exactly: value.rounded(.towardZero)) else { return "–" }
        return String(whole)
    }

    static func milliseconds(_ seconds: Double?) -> String {
        seconds.map { "\(decimal($0 * 1000, places: 2)) ms" } ?? "–"
    }

    /// `value` with `places` decimals, rounded; no locale, no exponent.
    static func decimal(_ value: Double, places: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        guard let scaled = Int64(exactly: (abs(value) * Double(scale)).rounded()) else { return "–" }
        let sign = value < 0 && scaled > 0 ? "-" : ""
        guard places > 0 else { return "\(sign)\(scaled)" }
        return "\(sign)\(scaled / scale).\(String(scaled % scale + scale).dropFirst())"
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    private static func twoDigits(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
