import Hummingbird
import Logging

/// `GET /v1/log-level` and `PUT /v1/log-level` with `{"level": "debug"}`: the process's log level, changed while it
/// runs (docs/operations.md). Every logger of the process follows at once.
extension HTTPRoutes {
    struct LogLevelJSON: Codable {
        var level: String
    }

    func registerLogLevel(on router: Router<BasicRequestContext>) {
        router.get("/v1/log-level") { _, _ in
            JSONResponse.make(.ok, LogLevelJSON(level: try Self.logSettings().level.rawValue))
        }
        router.put("/v1/log-level") { request, _ in
            var request = request
            let body = try await decodeBody(LogLevelJSON.self, of: &request, example: #"{"level": "debug"}"#)
            guard let level = Logger.Level(rawValue: body.level) else {
                throw HTTPAPIError.badRequest("unknown log level \"\(body.level)\"; choose one of \(Logger.Level.names)")
            }
            let settings = try Self.logSettings()
            settings.level = level
            return JSONResponse.make(.ok, LogLevelJSON(level: level.rawValue))
        }
    }

    private static func logSettings() throws -> LogSettings {
        guard let settings = LogSettings.bootstrapped else {
            // A node hosted inside another program logs through that program's handler, whose level is its own.
            throw HTTPAPIError(
                .conflict, "this process logs through its host program's log handler; set its level there")
        }
        return settings
    }
}
