import Foundation

/// The machine's cores, shared between CPU-bound test work (whole simulated worlds) and the suites that run real
/// processes. While such a suite runs, worlds leave it one core: with every core busy, the real clusters' leaders
/// lost elections under load. Once no such suite runs, worlds take every core.
public final class CoreShare: @unchecked Sendable {
    // @unchecked Sendable: every field is read and written under `condition`'s lock.
    public static let shared = CoreShare(cores: ProcessInfo.processInfo.activeProcessorCount)

    private let condition = NSCondition()
    private let cores: Int
    private var suitesWithRealProcesses = 0
    private var busy = 0

    init(cores: Int) { self.cores = max(1, cores) }

    private var available: Int { suitesWithRealProcesses > 0 ? max(1, cores - 1) : cores }

    /// Runs `work` on the calling thread once a core is free for it; blocks until then.
    public func onCore<Result>(_ work: () throws -> Result) rethrows -> Result {
        condition.lock()
        while busy >= available { condition.wait() }
        busy += 1
        condition.unlock()
        defer {
            condition.lock()
            busy -= 1
            condition.broadcast()
            condition.unlock()
        }
        return try work()
    }

    /// Brackets a suite that runs real processes.
    public func realProcesses<Result>(_ suite: () async throws -> Result) async rethrows -> Result {
        change { $0.suitesWithRealProcesses += 1 }
        defer { change { $0.suitesWithRealProcesses -= 1 } }
        return try await suite()
    }

    private func change(_ update: (CoreShare) -> Void) {
        condition.lock()
        update(self)
        condition.broadcast()
        condition.unlock()
    }
}
