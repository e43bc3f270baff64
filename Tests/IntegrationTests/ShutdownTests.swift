import Foundation
import QuorumClient
import QuorumConsensus
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SIGTERM and SIGINT shut a `quorum server` down gracefully.
extension ClusterTests {
    @Test("SIGTERM makes a leader hand its groups over and exit 0 while writes go on; SIGINT stops a follower the same way")
    func gracefulShutdown() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--groups", "2"])
        defer { cluster.stopAll() }
        let leader = try await Self.awaitLeader(client, cluster)
        // Its first lines are in its log while it runs, not only once it exits.
        #expect(cluster.output(of: leader).contains("node \(leader) serving clients on"))

        // Writes go on all through the shutdown; those acknowledged must all be there after it.
        let load = WriteLoad()
        let writers = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for writer in 0..<4 { tasks.addTask { await load.write(client, group: 1, writer: writer) } }
            }
        }
        #expect(try await Self.poll { load.acknowledged(in: 1).count >= 30 })
        let led = try await client.groups(of: cluster.members[leader - 1].clientEndpoint).filter { $0.role == "leader" }
        #expect(led.map(\.group).contains(GroupID(1)))
        cluster.signal(leader, SIGTERM)
        let exit = try #require(try await cluster.awaitExit(leader), "the leader did not exit after SIGTERM")
        #expect(exit.status == 0, "\(exit.log)")
        #expect(exit.log.contains("node \(leader) shutting down (SIGTERM)"))
        #expect(exit.log.hasSuffix("node \(leader) stopped\n"), "\(exit.log)")
        // It handed the groups it led over instead of leaving them to an election.
        for group in led {
            #expect(exit.log.contains("handing the leadership of group \(group.group.rawValue) to node"), "\(exit.log)")
        }
        let before = load.acknowledged(in: 1).count
        #expect(try await Self.poll { load.acknowledged(in: 1).count >= before + 30 }, "writes stopped with the leader")
        load.stop()
        await writers.value
        let written = try await client.range(.prefix(Array("w-".utf8)))
        let present = Set(written.kvs.map { String(decoding: $0.key, as: UTF8.self) })
        #expect(Set(load.acknowledged(in: 1).keys).isSubset(of: present))

        // Restarted on its data, it serves again; then SIGINT stops a follower the same way.
        try cluster.start(leader)
        #expect(try await Self.poll { (try? await client.status(of: cluster.members[leader - 1].clientEndpoint)) != nil })
        let follower = try #require(cluster.members.first { $0.id != leader && $0.process != nil }?.id)
        cluster.signal(follower, SIGINT)
        let stopped = try #require(try await cluster.awaitExit(follower), "the follower did not exit after SIGINT")
        #expect(stopped.status == 0 && stopped.log.contains("node \(follower) shutting down (SIGINT)"), "\(stopped.log)")
        try await client.put(Array("after".utf8), Array("both".utf8))
        await client.close()
    }
}
