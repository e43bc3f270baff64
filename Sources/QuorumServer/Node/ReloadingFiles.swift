import Foundation
import NIOConcurrencyHelpers

/// Something built from files (TLS contexts from PEM files), rebuilt when their contents change: read again on each
/// use, which is each new connection, so that certificates are replaced without a restart. Files that do not build
/// (half written, say) leave the last good value in use.
final class ReloadingFiles<Value: Sendable>: Sendable {
    private let paths: [String]
    private let build: @Sendable ([[UInt8]]) throws -> Value
    private let loaded: NIOLockedValueBox<(contents: [[UInt8]], value: Value)>

    /// Reads and builds once; throws, naming the file, if that fails.
    init(_ paths: [String], build: @escaping @Sendable ([[UInt8]]) throws -> Value) throws {
        self.paths = paths
        self.build = build
        let contents = try contentsOfFiles(paths)
        loaded = NIOLockedValueBox((contents, try build(contents)))
    }

    var current: Value {
        loaded.withLockedValue { loaded in
            guard let contents = try? contentsOfFiles(paths), contents != loaded.contents,
                let fresh = try? build(contents)
            else { return loaded.value }
            loaded = (contents, fresh)
            return fresh
        }
    }
}

/// The bytes of each file, or an error naming the first that cannot be read.
func contentsOfFiles(_ paths: [String]) throws -> [[UInt8]] {
    try paths.map { path in
        guard let data = FileManager.default.contents(atPath: path) else { throw TLSFileError(path: path) }
        return Array(data)
    }
}

struct TLSFileError: Error, CustomStringConvertible {
    var path: String
    var reason = "it cannot be read"

    var description: String { "TLS file \(path): \(reason)" }

    /// Runs `make`, blaming `path` for what it throws.
    static func blaming<Value>(_ path: String, _ make: () throws -> Value) throws -> Value {
        do { return try make() } catch let error as TLSFileError { throw error } catch {
            throw TLSFileError(path: path, reason: "\(error)")
        }
    }
}
