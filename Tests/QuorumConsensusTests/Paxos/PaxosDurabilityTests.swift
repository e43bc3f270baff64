import Testing

@testable import QuorumConsensus

@Suite("Multi-Paxos durability")
struct PaxosDurabilityTests {
    @Test("a promise leaves only after the Ready recording it, which must be synced")
    func promiseWaitsForPersistence() {
        var node = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2))
        step(&node, paxos(1, 2, round: 3, .prepare(firstSlot: 1, isTransfer: false)))
        let ready = drain(&node)
        #expect(ready.messages.isEmpty)
        #expect(ready.messagesAfterPersist.map(\.isPromise) == [true])
        #expect(ready.hardState == HardState(term: 3, votedFor: 1, commitIndex: 0))
        #expect(ready.mustSync)
    }

    @Test("an accepted answer leaves only after the accepted slots are persisted")
    func acceptedWaitsForPersistence() {
        var node = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2))
        let values = [Entry(term: 1, index: 1, kind: .command([1])), Entry(term: 1, index: 2, kind: .command([2]))]
        step(&node, paxos(1, 2, round: 1, .accept(PaxosAccept(entries: values, commitIndex: 0, readContext: 0))))
        let ready = drain(&node)
        #expect(ready.messages.isEmpty)
        #expect(
            ready.messagesAfterPersist == [
                paxos(
                    2, 1, round: 1,
                    .accepted(PaxosAccepted(acceptedThrough: 2, requestLast: 2, readContext: 0)))
            ])
        #expect(ready.entries.map(\.index) == [1, 2])
        #expect(ready.entries.map(\.term) == [1, 1])
        #expect(ready.mustSync)
    }

    @Test("a candidate asks for promises only once its promise to itself is durable")
    func prepareWaitsForOwnPromise() {
        var node = makePaxosNode(1, options: paxosOptions(voters: [1, 2, 3], seed: 1))
        node.campaign()
        let ready = drain(&node)
        #expect(ready.messages.isEmpty)
        #expect(ready.messagesAfterPersist.filter(\.isPrepare).count == 2)
        #expect(ready.hardState?.term == 1 && ready.hardState?.votedFor == 1)
    }

    @Test("a leader counts itself towards a quorum only for slots durable on its own disk")
    func leaderCountsItselfOnlyWhenDurable() throws {
        var cluster = PaxosCluster(voters: 3)
        cluster.elect(1)
        // n2 and n3 accept at once, but n1's own write is still in flight: one answer is not a quorum.
        _ = try cluster[1].propose([1])
        let ready = cluster[1].ready()
        for message in ready.messages { cluster.deliver(message) }
        let n2Ready = cluster[2].ready()
        cluster[2].acknowledge(readyNumber: n2Ready.number)
        for message in n2Ready.messagesAfterPersist { cluster.deliver(message) }
        #expect(cluster[1].commitIndex == 0)
        cluster[1].acknowledge(readyNumber: ready.number)
        #expect(cluster[1].commitIndex == 1)
    }

    @Test("a restarted acceptor keeps its promise and its accepted slots")
    func restartKeepsPromiseAndAcceptedSlots() {
        var cluster = PaxosCluster(voters: 3)
        cluster.elect(1)
        cluster.propose([1])
        cluster.isolated = [3]
        cluster.dropWhere = { $0.from == 2 && $0.to == 1 }
        _ = try? cluster[1].propose([2])
        cluster.stabilize()
        cluster.restart(2)
        #expect(cluster[2].promised == Ballot(round: 1, node: 1))
        #expect(cluster[2].value(at: 2) == Entry(term: 1, index: 2, kind: .command([2])))
        var node = cluster[2]
        step(&node, paxos(3, 2, round: 1, .prepare(firstSlot: 1, isTransfer: true)))
        step(&node, paxos(3, 2, round: 2, .prepare(firstSlot: 2, isTransfer: true)))
        let answers = drain(&node).messagesAfterPersist
        #expect(
            answers == [
                paxos(2, 3, round: 1, .reject(PaxosRejection(refusedRound: 1, promisedNode: 1, compactedThrough: 0))),
                paxos(
                    2, 3, round: 2,
                    .promise(
                        PaxosPromise(
                            commitIndex: 1,
                            accepted: [AcceptedValue(round: 1, value: Entry(term: 1, index: 2, kind: .command([2])))]))),
            ])
    }

    @Test("a torn write that rewrites an accepted slot loses none of the slots after it")
    func tornRewriteKeepsLaterSlots() {
        var node = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2))
        var disk = PaxosDisk()
        let old = (1...3 as ClosedRange<UInt64>).map { Entry(term: 1, index: LogIndex($0), kind: .command([UInt8($0)])) }
        step(&node, paxos(1, 2, round: 1, .accept(PaxosAccept(entries: old, commitIndex: 0, readContext: 0))))
        var ready = drain(&node)
        disk.write(ready)
        // A new leader takes over in round 2 (the promise is durable), then re-proposes slot 1; the write that
        // replaces it (and so slots 2 and 3 in storage) is torn after its first entry.
        step(&node, paxos(3, 2, round: 2, .prepare(firstSlot: 1, isTransfer: true)))
        disk.write(drain(&node))
        let newer = Entry(term: 2, index: 1, kind: .noop)
        step(&node, paxos(3, 2, round: 2, .accept(PaxosAccept(entries: [newer], commitIndex: 0, readContext: 0))))
        ready = drain(&node)
        #expect(ready.entries.map(\.index) == [1, 2, 3])
        disk.write(ready, keepingEntries: 1)
        #expect(disk.state.entries.count == 1)
        let restarted = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2), recovered: disk.state)
        restarted.checkInvariants()
        #expect(restarted.value(at: 1) == newer)
        #expect(restarted.term(at: 1) == 2)
        #expect(restarted.value(at: 2) == old[1])
        #expect(restarted.value(at: 3) == old[2])
        #expect(restarted.term(at: 3) == 1)
    }

    @Test("slots whose write lost the promise that admitted them are forgotten on recovery: none was acknowledged")
    func slotsAbovePromiseAreForgotten() {
        var node = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2))
        var disk = PaxosDisk()
        let values = (1...2 as ClosedRange<UInt64>).map { Entry(term: 3, index: LogIndex($0), kind: .command([UInt8($0)])) }
        step(&node, paxos(1, 2, round: 3, .accept(PaxosAccept(entries: values, commitIndex: 0, readContext: 0))))
        let ready = drain(&node)
        #expect(ready.hardState?.term == 3)
        // Torn: both slots reached the disk, the promise after them did not (and so neither did the answer).
        disk.write(ready, keepingEntries: 2)
        var restarted = makePaxosNode(2, options: paxosOptions(voters: [1, 2, 3], seed: 2), recovered: disk.state)
        restarted.checkInvariants()
        #expect(restarted.promised == .none)
        #expect(restarted.lastIndex == 0)
        // A candidate of a lower round than the lost one gets a promise that is well formed.
        step(&restarted, paxos(3, 2, round: 2, .prepare(firstSlot: 1, isTransfer: false)))
        #expect(
            drain(&restarted).messagesAfterPersist == [
                paxos(2, 3, round: 2, .promise(PaxosPromise(commitIndex: 0, accepted: [])))
            ])
    }

    @Test("recovery refuses data that is not a Multi-Paxos acceptor's")
    func recoveryRefusesRaftData() {
        let raftLog = RecoveredState(
            hardState: HardState(term: 1, votedFor: 1, commitIndex: 1),
            entries: [Entry(term: 1, index: 1, kind: .noop)])
        #expect(throws: OptionsError.self) {
            _ = try MultiPaxosNode(id: 2, options: paxosOptions(voters: [1, 2, 3]), recovered: raftLog)
        }
    }
}
