import Testing

@testable import QuorumConsensus

@Suite("Options")
struct OptionsTests {
    struct Refusal: CustomTestStringConvertible, Sendable {
        var change: @Sendable (inout RaftOptions) -> Void
        var reason: String
        var testDescription: String { reason }
    }

    static let refusals: [Refusal] = [
        .init(change: { $0.heartbeatIntervalTicks = 0 }, reason: "heartbeat interval must be at least one tick"),
        .init(
            change: { $0.electionTimeoutTicks = 1 },
            reason: "election timeout must be longer than the heartbeat interval"),
        .init(
            change: {
                $0.heartbeatIntervalTicks = 5; $0.electionTimeoutTicks = 5
            },
            reason: "election timeout must be longer than the heartbeat interval"),
        .init(
            change: { $0.maxEntriesPerAppend = 0 }, reason: "appends must be allowed at least one entry and one byte"),
        .init(change: { $0.maxBytesPerAppend = 0 }, reason: "appends must be allowed at least one entry and one byte"),
        .init(change: { $0.maxInflightAppends = 0 }, reason: "flow control must allow at least one append in flight"),
        .init(change: { $0.maxInflightBytes = 0 }, reason: "flow control must allow at least one append in flight"),
        .init(change: { $0.snapshotIntervalEntries = 0 }, reason: "snapshot interval must be at least one entry"),
        .init(
            change: {
                $0.quiescence = true; $0.quiescenceIdleTicks = 0
            },
            reason: "a leader must be idle at least one tick before it quiesces"),
        .init(
            change: {
                $0.leaseReads = true; $0.checkQuorum = false
            },
            reason: "lease reads need checkQuorum, or a deposed leader serves stale reads"),
    ]

    @Test("validate() refuses each unsafe or meaningless setting with one sentence", arguments: refusals)
    func validateRefuses(refusal: Refusal) {
        var options = testOptions(voters: [1, 2, 3])
        refusal.change(&options)
        #expect(throws: OptionsError(refusal.reason)) { try options.validate() }
        #expect(throws: OptionsError(refusal.reason)) { try RaftNode(id: 1, options: options) }
    }

    @Test("the default options are valid, as are lease reads with checkQuorum")
    func defaultsAreValid() throws {
        try RaftOptions().validate()
        var options = RaftOptions()
        options.leaseReads = true
        try options.validate()
    }

    @Test("node id 0 is refused: it means nobody on the wire")
    func nodeIDZeroRefused() {
        #expect(throws: OptionsError("node id 0 is reserved; use ids from 1")) {
            try RaftNode(id: 0, options: testOptions(voters: [1]))
        }
    }
}
