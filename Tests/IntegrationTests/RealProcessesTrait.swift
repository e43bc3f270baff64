import QuorumTestCores
import Testing

/// Marks a suite that runs real processes: while it runs, simulated worlds leave it a core (`CoreShare`).
struct RealProcessesTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await CoreShare.shared.realProcesses(function)
    }
}

extension Trait where Self == RealProcessesTrait {
    static var realProcesses: Self { RealProcessesTrait() }
}
