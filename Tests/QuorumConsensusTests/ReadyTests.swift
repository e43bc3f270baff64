import Testing

@testable import QuorumConsensus

@Suite("Ready and the driver contract")
struct ReadyTests {
    @Test("a Ready that only advances the commit index needs no fsync")
    func commitOnlyNeedsNoSync() {
        var follower = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(hardState: HardState(term: 1), entries: entries(terms: [1, 1])))
        step(&follower, Message(from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 2, readContext: 0)))
        let ready = drain(&follower)
        #expect(ready.hardState == HardState(term: 1, votedFor: nil, commitIndex: 2))
        #expect(!ready.mustSync)
        #expect(ready.committedEntries.map(\.index) == [1, 2])
    }

    @Test("Readies are numbered in sequence and a quiet node has none")
    func readiesAreSequential() {
        var node = makeNode(1, options: testOptions(voters: [1]))
        #expect(!node.hasReady)
        node.campaign()
        #expect(node.hasReady)
        let first = drain(&node)
        let second = drain(&node)
        #expect(second.number == first.number + 1)
        #expect(!node.hasReady)
    }

    @Test("Readies pipeline: the next is offered while earlier ones are outstanding, and acknowledged in order")
    func readiesPipeline() throws {
        var node = makeNode(1, options: testOptions(voters: [1]))
        node.campaign()
        while node.hasReady { node.acknowledge(readyNumber: node.ready().number) }
        #expect(node.role == .leader)
        _ = try node.propose([1])
        let first = node.ready()
        #expect(!node.hasReady, "nothing new since the Ready was taken")
        _ = try node.propose([2])
        let second = node.ready()
        #expect(second.number == first.number + 1)
        #expect(second.entries.map(\.index) == [first.entries[0].index.advanced(by: 1)])
        node.acknowledge(readyNumber: first.number)
        #expect(node.commitIndex == first.entries[0].index, "a solo leader commits what it persisted, no further")
        node.acknowledge(readyNumber: second.number)
        #expect(node.commitIndex == second.entries[0].index)
    }

    @Test("acknowledging the wrong Ready number traps (a driver bug)")
    func wrongAcknowledgementTraps() async {
        await #expect(processExitsWith: .failure) {
            var node = makeNode(1, options: testOptions(voters: [1]))
            node.campaign()
            let ready = node.ready()
            node.acknowledge(readyNumber: ready.number + 1)
        }
    }
}
