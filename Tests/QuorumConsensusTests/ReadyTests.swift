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

    @Test("no Ready is offered while one is outstanding")
    func noReadyWhileOutstanding() {
        var node = makeNode(1, options: testOptions(voters: [1]))
        node.campaign()
        let ready = node.ready()
        #expect(!node.hasReady)
        node.acknowledge(readyNumber: ready.number)
        #expect(node.hasReady, "the commit of the no-op is now ready to apply")
    }

    @Test("taking a second Ready before acknowledging the first traps (a driver bug)")
    func secondReadyTraps() async {
        await #expect(processExitsWith: .failure) {
            var node = makeNode(1, options: testOptions(voters: [1]))
            node.campaign()
            _ = node.ready()
            _ = node.ready()
        }
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
