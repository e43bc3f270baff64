import Testing

@testable import QuorumConsensus

@Suite("Multi-Paxos step validation")
struct PaxosStepValidationTests {
    private func refusal(_ message: Message, to node: MultiPaxosNode) -> StepError? {
        var node = node
        do throws(StepError) {
            try node.step(message)
            return nil
        } catch {
            return error
        }
    }

    @Test("what no correct peer sends is refused, and the node is unchanged")
    func malformedMessagesAreRefused() {
        let node = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2))
        let value = Entry(term: 5, index: 1, kind: .noop)
        let cases: [Message] = [
            paxos(2, 2, round: 1, .prepare(firstSlot: 1, isTransfer: false)),
            paxos(1, 2, round: 0, .prepare(firstSlot: 1, isTransfer: false)),
            paxos(1, 2, round: 1, .prepare(firstSlot: 0, isTransfer: false)),
            paxos(1, 2, round: 4, .accept(PaxosAccept(entries: [value], commitIndex: 0, readContext: 0))),
            paxos(
                1, 2, round: 9,
                .accept(
                    PaxosAccept(
                        entries: [value, Entry(term: 5, index: 3, kind: .noop)], commitIndex: 0, readContext: 0))),
            paxos(1, 2, round: 3, .promise(PaxosPromise(commitIndex: 0, accepted: [AcceptedValue(round: 4, value: value)]))),
            paxos(1, 2, round: 3, .reject(PaxosRejection(refusedRound: 4, promisedNode: 1, compactedThrough: 0))),
            paxos(1, 2, round: 9, .accepted(PaxosAccepted(acceptedThrough: LogIndex.ceiling.advanced(by: 1), requestLast: 0, readContext: 0))),
            paxos(1, 2, round: Term.ceiling.next.next, .prepare(firstSlot: 1, isTransfer: false)),
            paxos(
                1, 2, round: 2,
                .snapshot(
                    Snapshot(lastIncludedIndex: 5, lastIncludedTerm: 1, configuration: Configuration(voters: []), data: []))),
        ]
        for message in cases {
            guard case .malformed = refusal(message, to: node) else {
                Issue.record("accepted \(message)")
                continue
            }
        }
    }

    @Test("an engine refuses the other engine's messages: the cluster mixes engines")
    func enginesDoNotMix() {
        let paxosNode = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2))
        let raftMessage = Message(from: 1, to: 2, term: 1, payload: .heartbeat(commitIndex: 0, readContext: 0))
        guard case .protocolViolation = refusal(raftMessage, to: paxosNode) else {
            Issue.record("Multi-Paxos took a Raft message")
            return
        }
        var raftNode = makeNode(2, options: testOptions(voters: [1, 2, 3]))
        #expect(throws: StepError.self) {
            try raftNode.step(paxos(1, 2, round: 1, .prepare(firstSlot: 1, isTransfer: false)))
        }
    }

    @Test("an acceptor that learned a slot was chosen refuses a different value there")
    func chosenSlotsNeverChange() {
        var cluster = PaxosCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.heartbeat()
        #expect(cluster[2].commitIndex == 1)
        let forged = paxos(
            1, 2, round: 1,
            .accept(PaxosAccept(entries: [Entry(term: 1, index: 1, kind: .command([9]))], commitIndex: 1, readContext: 0)))
        var node = cluster[2]
        #expect(throws: StepError.self) { try node.step(forged) }
    }
}
