import Logging

/// swift-log's handler for Quorum's processes: every logger shares one `LogSettings` (format, run-time level, and
/// a rate limit per place in the code).
struct QuorumLogHandler: LogHandler {
    let label: String
    let settings: LogSettings
    var metadata: Logger.Metadata = [:]

    init(label: String, settings: LogSettings) {
        self.label = label
        self.settings = settings
    }

    /// Set on one logger to keep it quieter than the process (the HTTP server's own chatter, say).
    private var floor: Logger.Level = .trace

    /// The process's level (`LogSettings.level`, which changes at run time), or this logger's floor if higher.
    var logLevel: Logger.Level {
        get { max(settings.level, floor) }
        set { floor = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = event.metadata.map { metadata.merging($0) { _, new in new } } ?? metadata
        settings.emit(
            level: event.level, label: label, message: event.message.description, metadata: merged,
            site: "\(event.file):\(event.line)")
    }
}
