import Foundation
import QuorumClient
import QuorumConsensus
import QuorumWire
import Testing

extension ClusterTests {
    @Test(
        "placement: groups spread over two nodes that join while writes go on; a dead node's replicas are made again elsewhere; nothing acknowledged is lost"
    )
    func placementSpreadsAndReplaces() async throws {
        let groups = 2...7
        let (cluster, client) = try await Self.startCluster(arguments: [
            "--groups", "\(groups.upperBound)", "--placement", "--placement-dead-after", "2",
        ])
        defer { cluster.stopAll() }
        let clients = groups.map {
            QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(UInt64($0)))
        }
        var written: [(client: QuorumClient, key: String)] = []
        func write(_ round: Int) async throws {
            for (index, groupClient) in clients.enumerated() {
                let key = "k\(round)-g\(index)"
                try await groupClient.put(Array(key.utf8), Array(key.utf8))
                written.append((groupClient, key))
            }
        }
        try await write(0)

        // Two nodes join the cluster (group 1); the placement driver gives them replicas, while writes go on.
        for _ in 0..<2 {
            let newcomer = try cluster.addMember()
            try await client.addMember(
                NodeID(UInt64(newcomer.id)), address: "127.0.0.1:\(newcomer.peerPort):\(newcomer.clientPort)")
            try cluster.start(newcomer.id, joining: true)
        }
        /// Replicas and leaderships of groups 2 and up, per live node.
        func replicasPerNode() async -> [Int: (replicas: Int, leads: Int)] {
            var counts: [Int: (replicas: Int, leads: Int)] = [:]
            for member in cluster.members where member.process != nil {
                let hosted = ((try? await client.groups(of: member.clientEndpoint)) ?? []).filter {
                    $0.group != GroupID(1)
                }
                counts[member.id] = (hosted.count, hosted.filter { $0.role == "leader" }.count)
            }
            return counts
        }
        var round = 1
        var spread = false
        let spreadBy = ContinuousClock.now + .seconds(90)
        while !spread, ContinuousClock.now < spreadBy {
            try await write(round)
            round += 1
            let counts = await replicasPerNode()
            // 6 groups x 3 replicas over 5 nodes: 3 or 4 each; 6 leaderships: 1 or 2 each.
            spread =
                counts.count == 5
                && counts.values.allSatisfy { (3...4).contains($0.replicas) && (1...2).contains($0.leads) }
            if !spread { try await Task.sleep(for: .milliseconds(500)) }
        }
        let finalCounts = await replicasPerNode()
        func placementLog() -> String {
            cluster.members.map { member in
                cluster.output(of: member.id).split(separator: "\n").filter { $0.contains("placement") }
                    .joined(separator: "\n")
            }.joined(separator: "\n")
        }
        #expect(spread, "replicas did not spread: \(finalCounts)\n\(placementLog())")

        // Node 5 dies: once it has been unreachable for 2 s, each of its replicas is made again on a live node.
        cluster.kill(5)
        func healthyGroups() async -> Int {
            var healthy = 0
            for groupClient in clients {
                // The group's leader, wherever it is now, has its membership.
                for member in cluster.members where member.id != 5 {
                    guard let status = try? await groupClient.status(of: member.clientEndpoint), status.role == "leader"
                    else { continue }
                    if status.voters.count == 3, !status.voters.contains(NodeID(5)), status.learners.isEmpty {
                        healthy += 1
                    }
                    break
                }
            }
            return healthy
        }
        var replaced = false
        let replacedBy = ContinuousClock.now + .seconds(90)
        while !replaced, ContinuousClock.now < replacedBy {
            replaced = await healthyGroups() == clients.count
            if !replaced { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(replaced, "node 5's replicas were not replaced\n\(placementLog())")
        for (groupClient, key) in written {
            #expect(try await groupClient.get(Array(key.utf8))?.value == Array(key.utf8), "lost \(key)")
        }
        for groupClient in clients { await groupClient.close() }
        await client.close()
    }

    @Test("placement: a group given a voter too many (as a move whose driver lost track of it) is brought back to three")
    func placementRemovesAVoterTooMany() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--groups", "2", "--placement"])
        defer { cluster.stopAll() }
        let second = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(2))
        try await second.put(Array("kept".utf8), Array("yes".utf8))
        // A fourth node joins; three replicas of group 2 over four nodes is already balanced, so placement adds none.
        let newcomer = try cluster.addMember()
        try await client.addMember(
            NodeID(UInt64(newcomer.id)), address: "127.0.0.1:\(newcomer.peerPort):\(newcomer.clientPort)")
        try cluster.start(newcomer.id, joining: true)
        // By hand, group 2 gains a fourth voter there, with no move recorded by the driver.
        let created = try await Self.pollValue { try? await second.createReplica(on: newcomer.clientEndpoint) }
        #expect(created != nil)
        _ = try await second.addMember(NodeID(UInt64(newcomer.id)), address: "", staysLearner: false)
        func voters() async -> Int? {
            for member in cluster.members {
                guard let status = try? await second.status(of: member.clientEndpoint), status.role == "leader" else {
                    continue
                }
                return status.learners.isEmpty ? status.voters.count : nil
            }
            return nil
        }
        var backToThree = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !backToThree, ContinuousClock.now < deadline {
            backToThree = await voters() == 3
            if !backToThree { try await Task.sleep(for: .milliseconds(250)) }
        }
        let log = cluster.members.map { cluster.output(of: $0.id) }.joined(separator: "\n")
        let finally = await voters()
        #expect(backToThree, "group 2 kept \(finally.map(String.init) ?? "an unknown number of") voters")
        #expect(log.contains("placement: remove"), "the placement driver removed nothing")
        #expect(try await second.get(Array("kept".utf8))?.value == Array("yes".utf8))
        await second.close()
        await client.close()
    }
}
