import Foundation
import QuorumClient
import QuorumConsensus
import Testing

extension ClusterTests {
    @Test(
        "a connection flood on a follower's peer port is bounded and timed out; the cluster keeps its leader and serves"
    )
    func peerConnectionFlood() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: [
            "--max-peer-strangers", "64", "--peer-hello-timeout", "2",
        ])
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        let follower = cluster.members.first { $0.id != leaderID }!
        try await client.put(Array("before".utf8), [1])
        let termBefore = try await client.status(of: follower.clientEndpoint).term

        // 100 connections that never say hello: 64 are held, the rest refused at once, and the held ones closed
        // once the hello timeout passes.
        let http = HTTPClient()
        func counter(_ name: String) async throws -> Double { try await Self.sample(name, of: follower, http: http) }
        let strangers = (0..<100).compactMap { _ in try? BlockingSocket(port: follower.peerPort) }
        defer { for socket in strangers { socket.close() } }
        #expect(strangers.count == 100)
        #expect(try await Self.poll { try await counter("quorum_network_peer_strangers_refused_total") >= 36 })
        // The members' own links, past their hellos, are not counted among strangers: writes commit on every node.
        for index in 0..<20 { try await client.put(Array("during-\(index)".utf8), [1]) }
        #expect(try await Self.poll { try await counter("quorum_network_peer_hellos_late_total") >= 64 })
        let status = try await client.status(of: follower.clientEndpoint)
        #expect(status.term == termBefore, "no election")
        let followerReads = QuorumClient(endpoints: [follower.clientEndpoint], timeout: .seconds(10))
        #expect(
            try await Self.poll {
                (try? await followerReads.get(Array("during-19".utf8), linearizable: false)) != nil
            })
        await followerReads.close()
        await client.close()
    }
}
