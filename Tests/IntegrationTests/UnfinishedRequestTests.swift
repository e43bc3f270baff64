import Foundation
import QuorumClient
import QuorumConsensus
import QuorumStore
import QuorumWire
import Testing

extension ClusterTests {
    @Test("requests begun and not finished are bounded over all connections: the one that passes the bound is closed")
    func unfinishedRequestsAreBounded() async throws {
        let cluster = try ClusterProcesses(size: 1)
        cluster.serverArguments = ["--max-unfinished-request-bytes", "\(3 << 20)"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        _ = try await Self.awaitLeader(client, cluster)
        let member = cluster.members[0]

        // Three connections each send 1.1 MiB of a 1.2 MiB write: the third passes the 3 MiB bound.
        func write(_ id: UInt64) -> [UInt8] {
            let put = PutRequest(key: Array("big-\(id)".utf8), value: [UInt8](repeating: 0x61, count: 1_200_000))
            return ClientRequest(requestID: id, group: GroupID(1), operation: .write(StoreProposal(.put(put))))
                .frame.encoded
        }
        let begun = 1_150_000
        let sockets = try (1...3).map { _ in try BlockingSocket(port: member.clientPort) }
        defer { for socket in sockets { socket.close() } }
        for (index, socket) in sockets.enumerated() {
            try socket.send(bytes: Array(write(UInt64(index + 1))[..<begun]))
        }
        // The node reads the three at its pace: wait until it has refused one before the others finish.
        let http = HTTPClient()
        func refusals() async throws -> Double {
            try await Self.sample("quorum_network_unfinished_requests_refused_total", of: member, http: http)
        }
        let polled = try await Self.poll { try await refusals() == 1 }
        let seen = try await refusals()
        #expect(polled, "\(seen) \(cluster.output(of: 1).suffix(2000))")
        var answered = 0
        for (index, socket) in sockets.enumerated() {
            // The connection the node closed fails to send or to read; the others get their write's answer.
            guard (try? socket.send(bytes: Array(write(UInt64(index + 1))[begun...]))) != nil,
                let response = try? Self.answer(on: socket)
            else { continue }
            #expect(response.requestID == UInt64(index + 1))
            if case .result(.put) = response.outcome { answered += 1 } else { Issue.record("\(response.outcome)") }
        }
        #expect(answered == 2, "two connections stay within the bound and are served")
        #expect(try await refusals() == 1, "one refusal, not more")

        // What was held is given back: a whole new write of the same size goes through, as does the client's.
        let fresh = try BlockingSocket(port: member.clientPort)
        defer { fresh.close() }
        try fresh.send(bytes: write(9))
        #expect(try Self.answer(on: fresh).outcome != .failed(""))
        try await client.put(Array("small".utf8), Array("ok".utf8))
        #expect(try await client.get(Array("big-9".utf8))?.value.count == 1_200_000)
        await client.close()
    }

    /// The first response that arrives on `socket`.
    static func answer(on socket: BlockingSocket) throws -> ClientResponse {
        let decoder = FrameDecoder(frameBytesMax: 16 << 20)
        var unread: [UInt8] = []
        while true {
            unread += try socket.receiveSome()
            if case .frame(let frame, _) = try decoder.decode(unread) { return try ClientResponse(decoding: frame) }
        }
    }
}
