import Foundation
import QuorumClient
import QuorumConsensus
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SIGTERM and SIGINT shut a `quorum server` down gracefully.
extension ClusterTests {
    @Test(
        "SIGTERM makes a leader hand its groups over and exit 0 while writes go on; SIGINT stops a follower the same way"
    )
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
        #expect(
            try await Self.poll { (try? await client.status(of: cluster.members[leader - 1].clientEndpoint)) != nil })
        let follower = try #require(cluster.members.first { $0.id != leader && $0.process != nil }?.id)
        cluster.signal(follower, SIGINT)
        let stopped = try #require(try await cluster.awaitExit(follower), "the follower did not exit after SIGINT")
        #expect(
            stopped.status == 0 && stopped.log.contains("node \(follower) shutting down (SIGINT)"), "\(stopped.log)")
        try await client.put(Array("after".utf8), Array("both".utf8))
        await client.close()
    }
}

extension ClusterTests {
    @Test("Ctrl-C stops quorum dev: its three nodes close and flush their logs, and it exits 0 keeping the data")
    func devStopsOnInterrupt() async throws {
        // Three consecutive peer ports and the client, HTTP and Redis ports above them, all free now.
        let offsets = [0, 1, 2, 100, 101, 102, 110, 111, 112, 200, 201, 202]
        let base = try #require(
            (0..<100).lazy.map { _ in Int.random(in: 10_000..<(ClusterProcesses.ephemeralPortsStart - 300)) }
                .first { base in offsets.allSatisfy { ClusterProcesses.canBind(base + $0) } })
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quorum-dev-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let endpoints = (0..<3).map { "127.0.0.1:\(base + 100 + $0)" }
        // Run it, write (or, the second time, read back what the first wrote), then interrupt it.
        for run in 0..<2 {
            let process = Process()
            process.executableURL = try ClusterProcesses.quorumExecutable()
            process.arguments = ["dev", "--base-port", "\(base)", "--data-dir", directory.path]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            let client = QuorumClient(endpoints: endpoints, timeout: .seconds(10))
            if run == 0 {
                try await client.put(Array("kept".utf8), Array("yes".utf8))
            } else {
                #expect(try await client.get(Array("kept".utf8))?.value == Array("yes".utf8))
            }
            await client.close()
            kill(process.processIdentifier, SIGINT)
            let ended = try await Self.poll { !process.isRunning }
            #expect(ended, "quorum dev still runs after SIGINT")
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(text)")
            #expect(text.contains("quorum dev: stopped, data kept in"), "\(text)")
        }
    }
}
