import Foundation
import NIOCore

/// Bounds on waits for what a test expects to happen by itself, so that a regression fails the test instead of
/// hanging the suite. They are bounds, not timings: every expected case ends long before them.
enum Patience {
    /// `body`'s value, or nil if it has not finished within `seconds` (it is then cancelled).
    static func within<Value: Sendable>(
        seconds: Int, _ body: @escaping @Sendable () async throws -> Value
    ) async throws -> Value? {
        try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// Waits for the other side to close `channel`; false if it had not within `seconds`, and this side closed it.
    static func peerCloses(_ channel: any Channel, within seconds: Int64) async throws -> Bool {
        let giveUp = channel.eventLoop.scheduleTask(in: .seconds(seconds)) { channel.close(promise: nil) }
        try await channel.closeFuture.get()
        giveUp.cancel()
        return (try? await giveUp.futureResult.get()) == nil
    }
}
