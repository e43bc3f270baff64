import Testing

@testable import QuorumConsensus

private final class AcceptLog: @unchecked Sendable {
    var accepts: [Message] = []
}

@Suite("Multi-Paxos replication")
struct PaxosReplicationTests {
    @Test("an acceptor that stops answering is probed with one batch at a time, then caught up once it answers")
    func stalledAcceptorIsProbed() {
        var cluster = PaxosCluster(voters: 3) {
            $0.maxEntriesPerAccept = 2
            $0.maxInflightSlots = 100
        }
        cluster.elect(1)
        let counter = AcceptLog()
        cluster.dropWhere = { message in
            guard message.to == 3 else { return false }
            if case .accept(let accept) = message.paxosPayload, !accept.entries.isEmpty { counter.accepts.append(message) }
            return true
        }
        for value in 1...10 { cluster.propose([UInt8(value)]) }
        // The pipeline: every slot went out to n3 once, each proposal in its own Ready.
        #expect(counter.accepts.count == 10)
        counter.accepts.removeAll()
        for _ in 0..<30 { cluster.heartbeat() }
        // Stalled: one batch of two per probe, not the whole window again.
        #expect(!counter.accepts.isEmpty)
        for message in counter.accepts {
            guard case .accept(let accept) = message.paxosPayload else { continue }
            #expect(accept.entries.map(\.index) == [1, 2])
        }
        #expect(counter.accepts.count <= 5)
        cluster.dropWhere = nil
        for _ in 0..<3 { cluster.heartbeat() }
        #expect(cluster[3].commitIndex == 10)
        #expect(cluster.appliedCommands(3) == (1...10).map { [UInt8($0)] })
    }

    @Test("an acceptor sent slots past a gap answers where the gap is, and gets it again")
    func gapIsResent() {
        var cluster = PaxosCluster(voters: 3) { $0.maxEntriesPerAccept = 1 }
        cluster.elect(1)
        // The accept of slot 2 to n3 is lost; slot 3 arrives.
        cluster.dropWhere = { message in
            if case .accept(let accept) = message.paxosPayload, message.to == 3 { return accept.entries.first?.index == 2 }
            return false
        }
        for value in 1...3 { _ = try? cluster[1].propose([UInt8(value)]) }
        cluster.stabilize()
        // Slots are accepted in order: slot 3 waits for slot 2.
        #expect(cluster[3].lastIndex == 1)
        cluster.dropWhere = nil
        cluster.heartbeat()
        cluster.heartbeat()
        #expect(cluster[3].commitIndex == 3)
    }
}
