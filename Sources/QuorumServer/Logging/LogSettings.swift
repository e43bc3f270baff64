import Foundation
import Logging
import Synchronization

/// The process's log format, level and per-line rate limit, shared by every logger `QuorumLogHandler` makes. The
/// level can be changed while the process runs (`PUT /v1/log-level`); the format is fixed at start.
public final class LogSettings: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        /// `2026-12-07T03:04:05.123Z notice quorum.node node=1 group=3 message`
        case text
        /// One JSON object per line: `time`, `level`, `logger`, `message`, and the metadata as strings.
        case json
    }

    public let format: Format
    /// Lines one place in the code may log per second; the rest are counted and reported with the next line from
    /// that place, so that a flood of bad input (forged peer messages, say) cannot fill the disk.
    let linesPerSecondPerSite: Int
    private let currentLevel: Mutex<Logger.Level>
    private let sites = Mutex<[String: SiteBudget]>([:])
    private let output: @Sendable (String) -> Void
    private let now: @Sendable () -> Date

    /// What one place in the code has logged in the current second.
    private struct SiteBudget {
        var second: Int64
        var emitted: Int
        var suppressed: Int
    }

    public init(
        format: Format, level: Logger.Level, linesPerSecondPerSite: Int = 10,
        output: @escaping @Sendable (String) -> Void = LogSettings.writeToStandardError,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.format = format
        self.currentLevel = Mutex(level)
        self.linesPerSecondPerSite = linesPerSecondPerSite
        self.output = output
        self.now = now
    }

    public var level: Logger.Level {
        get { currentLevel.withLock { $0 } }
        set { currentLevel.withLock { $0 = newValue } }
    }

    /// Makes every `Logger` of the process log through these settings. Once per process (swift-log's rule).
    public func bootstrap() {
        LoggingSystem.bootstrap { label in QuorumLogHandler(label: label, settings: self) }
        Self.processSettings.withLock { $0 = self }
    }

    /// The settings the process bootstrapped, which the HTTP API's `/v1/log-level` reads and changes; nil in a
    /// process that kept swift-log's default handler (tests that run servers in process).
    public static var bootstrapped: LogSettings? { processSettings.withLock { $0 } }
    private static let processSettings = Mutex<LogSettings?>(nil)

    /// Writes one line, unless its place in the code used up this second's budget. Returns whether it did.
    @discardableResult
    func emit(
        level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, site: String
    ) -> Bool {
        let time = now()
        let second = Int64(time.timeIntervalSince1970.rounded(.down))
        let suppressed: Int? = sites.withLock { sites in
            var budget = sites[site] ?? SiteBudget(second: second, emitted: 0, suppressed: 0)
            if budget.second != second {
                budget.second = second
                budget.emitted = 0
            }
            guard budget.emitted < linesPerSecondPerSite else {
                budget.suppressed += 1
                sites[site] = budget
                return nil
            }
            budget.emitted += 1
            let earlier = budget.suppressed
            budget.suppressed = 0
            sites[site] = budget
            return earlier
        }
        guard let suppressed else { return false }
        var metadata = metadata
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        output(LogLine(time: time, level: level, label: label, message: message, metadata: metadata).rendered(format))
        return true
    }

    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

extension Logger.Level {
    /// The levels' names, as flags and the HTTP API accept them.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
