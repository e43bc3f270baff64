import Foundation
import QuorumClient
import QuorumConsensus
import QuorumWire
import Testing

extension ClusterTests {
    static let manyGroups = 100

    /// Every group's status on every running member, by node.
    static func groupStatuses(_ cluster: ClusterProcesses) async -> [Int: [GroupStatus]] {
        let client = QuorumClient(endpoints: cluster.clientEndpoints)
        var statuses: [Int: [GroupStatus]] = [:]
        for member in cluster.members where member.process != nil {
            statuses[member.id] = try? await client.groups(of: member.clientEndpoint)
        }
        await client.close()
        return statuses
    }

    /// Puts `key` = `value` in every group at once; returns the groups whose write was acknowledged.
    static func writeEveryGroup(_ clients: [QuorumClient], key: String, value: String) async -> Set<Int> {
        await withTaskGroup(of: Int?.self) { tasks in
            for (offset, client) in clients.enumerated() {
                tasks.addTask {
                    let written = try? await client.put(Array(key.utf8), Array("\(value)-\(offset + 1)".utf8))
                    return written == nil ? nil : offset + 1
                }
            }
            var acknowledged = Set<Int>()
            for await group in tasks { if let group { acknowledged.insert(group) } }
            return acknowledged
        }
    }

    @Test(
        "three processes host 100 groups: every group takes writes, re-elects after a SIGKILL, loses nothing, quiesces past the dead node, catches up"
    )
    func hundredGroups() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--groups", "\(Self.manyGroups)"])
        defer { cluster.stopAll() }
        let clients = (1...Self.manyGroups).map { group in
            QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(30), group: GroupID(UInt64(group)))
        }
        #expect(await Self.writeEveryGroup(clients, key: "first", value: "one").count == Self.manyGroups)

        // A group the nodes do not host is refused by name, and created by nothing.
        let stranger = QuorumClient(endpoints: cluster.clientEndpoints, group: GroupID(UInt64(Self.manyGroups + 1)))
        await #expect(throws: QuorumClientError.refused("this node hosts no group \(Self.manyGroups + 1)")) {
            try await stranger.put(Array("k".utf8), Array("v".utf8))
        }
        await stranger.close()

        // Idle, every group falls silent: no heartbeats of its own, only the nodes' liveness signal.
        let quiet = try await Self.poll {
            let statuses = await Self.groupStatuses(cluster)
            return statuses.count == 3
                && statuses.values.allSatisfy { $0.count == Self.manyGroups && $0.allSatisfy(\.isQuiescent) }
        }
        #expect(quiet, "idle groups did not quiesce")

        // Kill the node that leads the most groups: their followers are asleep, and only node liveness wakes them.
        let before = await Self.groupStatuses(cluster)
        #expect(before.values.allSatisfy { $0.count == Self.manyGroups }, "every node hosts every group")
        let victim = try #require(
            before.max { left, right in
                left.value.count { $0.role == "leader" } < right.value.count { $0.role == "leader" }
            }?.key)
        let orphaned = before[victim]!.filter { $0.role == "leader" }.map(\.group)
        #expect(!orphaned.isEmpty)
        cluster.kill(victim)

        // Every group elects a leader among the survivors, and takes a second write.
        let reelected = try await Self.poll {
            let survivors = await Self.groupStatuses(cluster)
            let led = Set(survivors.values.flatMap { $0.filter { $0.role == "leader" }.map(\.group) })
            return led.count == Self.manyGroups
        }
        #expect(reelected, "not every group that lost its leader elected another")
        let second = await Self.writeEveryGroup(clients, key: "second", value: "two")
        #expect(second.count == Self.manyGroups)

        // Idle again, every group falls silent on the survivors, although a member of each is down: its leader
        // quiesces past a node that node liveness reports silent (before, such groups heartbeat for good).
        let quietWithoutVictim = try await Self.poll {
            let statuses = await Self.groupStatuses(cluster)
            return statuses.count == 2 && statuses.values.allSatisfy { $0.allSatisfy(\.isQuiescent) }
        }
        #expect(quietWithoutVictim, "groups with a crashed member did not quiesce")

        // Nothing acknowledged is lost, in any group.
        for (offset, client) in clients.enumerated() {
            let group = offset + 1
            #expect(try await client.get(Array("first".utf8))?.value == Array("one-\(group)".utf8), "group \(group)")
            #expect(try await client.get(Array("second".utf8))?.value == Array("two-\(group)".utf8), "group \(group)")
        }

        // The victim restarts on its data and every group catches up on it.
        let commits = await Self.groupStatuses(cluster).values.flatMap { $0 }.reduce(into: [GroupID: LogIndex]()) {
            $0[$1.group] = max($0[$1.group] ?? 0, $1.commitIndex)
        }
        try cluster.start(victim)
        let endpoint = cluster.members[victim - 1].clientEndpoint
        let caughtUp = try await Self.poll {
            guard let groups = try? await client.groups(of: endpoint), groups.count == Self.manyGroups else {
                return false
            }
            return groups.allSatisfy { $0.appliedIndex >= commits[$0.group] ?? 0 }
        }
        #expect(caughtUp, "the restarted node did not catch up in every group")
        // Heard again, the victim wakes the groups it is in; they catch it up and fall silent once more.
        let quietAgain = try await Self.poll {
            let statuses = await Self.groupStatuses(cluster)
            return statuses.count == 3
                && statuses.values.allSatisfy { $0.count == Self.manyGroups && $0.allSatisfy(\.isQuiescent) }
        }
        #expect(quietAgain, "the groups did not quiesce again after the victim came back")
        for client in clients { await client.close() }
        await client.close()
    }
}

extension ClusterTests {
    @Test("removing a node from a group destroys only that replica: the node keeps serving, and the group stays gone")
    func replicaRemovedFromOneGroup() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--groups", "2"])
        defer { cluster.stopAll() }
        let second = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(2))
        try await second.put(Array("k".utf8), Array("v".utf8))
        let leaderOfSecond = try #require(
            await Self.groupStatuses(cluster).values.flatMap { $0 }.first { $0.group == 2 && $0.role == "leader" }?
                .leader)
        let victim = try #require(cluster.members.first { $0.id != Int(leaderOfSecond.rawValue) })
        // HTTP addresses a group with ?group=N, and the groups' keys are apart; without it, a key goes to the group
        // owning its hash slot ("h": slot 11694, group 2's of two).
        let http = HTTPClient()
        let leader = cluster.members[Int(leaderOfSecond.rawValue) - 1]
        #expect(try await http.send("PUT", leader, "/v1/kv/h?group=2", body: #"{"value": "two"}"#).status == 200)
        #expect(try await http.send("GET", leader, "/v1/kv/h?group=2").json["value"] as? String == "two")
        #expect(try await http.send("GET", leader, "/v1/kv/h?group=1&serializable=true").status == 404)
        #expect(try await http.send("GET", leader, "/v1/kv/h?serializable=true").json["value"] as? String == "two")
        #expect(try await http.send("GET", leader, "/v1/kv/h?group=3").status == 404)
        #expect(try await http.send("GET", leader, "/v1/kv/h?group=0").status == 400)
        // Asleep, the victim's replica would never campaign and so never ask: the leader must tell it.
        #expect(
            try await Self.poll {
                (try? await client.groups(of: victim.clientEndpoint))?.first { $0.group == 2 }?.isQuiescent == true
            })
        let shrunk = try await second.removeMember(NodeID(UInt64(victim.id)))
        #expect(!shrunk.voters.contains(NodeID(UInt64(victim.id))))

        // It learns when it next asks for votes, destroys its replica of group 2, and keeps group 1.
        #expect(
            try await Self.poll { (try? await client.groups(of: victim.clientEndpoint))?.map(\.group) == [GroupID(1)] },
            "the removed replica was not destroyed")
        let direct = QuorumClient(endpoints: [victim.clientEndpoint], group: GroupID(2))
        await #expect(throws: QuorumClientError.refused("this node's replica of g2 was removed from the group")) {
            try await direct.get(Array("k".utf8), linearizable: false)
        }
        await direct.close()
        try await client.put(Array("still".utf8), Array("serving".utf8))
        try await second.put(Array("k2".utf8), Array("v2".utf8))

        // Its tombstone survives a restart: group 2 does not come back.
        cluster.kill(victim.id)
        try cluster.start(victim.id)
        #expect(
            try await Self.poll { (try? await client.groups(of: victim.clientEndpoint))?.map(\.group) == [GroupID(1)] })
        await second.close()
        await client.close()
    }
}

extension ClusterTests {
    @Test(
        "a node added to the cluster gets a replica of another group: created empty, added by the leader, caught up",
        arguments: ConsensusKind.allCases)
    func replicaAddedToAGroup(consensus: ConsensusKind) async throws {
        let (cluster, client) = try await Self.startCluster(arguments: [
            "--groups", "2", "--consensus", consensus.rawValue,
        ])
        defer { cluster.stopAll() }
        let second = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(2))
        for number in 0..<20 { try await second.put(Array("k\(number)".utf8), Array("v\(number)".utf8)) }

        let newcomer = try cluster.addMember()
        try await client.addMember(NodeID(4), address: "127.0.0.1:\(newcomer.peerPort):\(newcomer.clientPort)")
        try cluster.start(newcomer.id, joining: true)
        // Group 2 cannot add a node whose replica does not exist yet... it would never hear of it; so it is created
        // first, empty, and never campaigns on its own.
        let created = try await Self.pollValue { try? await second.createReplica(on: newcomer.clientEndpoint) }
        #expect(created?.group == GroupID(2) && created?.commitIndex == 0)
        await #expect(throws: QuorumClientError.refused("this node already hosts a replica of g2")) {
            try await second.createReplica(on: newcomer.clientEndpoint)
        }
        try await second.addMember(NodeID(4), address: "")
        let direct = QuorumClient(endpoints: [newcomer.clientEndpoint], group: GroupID(2))
        #expect(
            try await Self.poll {
                (try? await direct.get(Array("k19".utf8), linearizable: false))??.value == Array("v19".utf8)
            },
            "the new replica did not catch up")
        #expect(try await Self.poll { (try? await second.status(of: newcomer.clientEndpoint))?.voters.count == 4 })
        await direct.close()
        await second.close()
        await client.close()
    }

    /// Polls `produce` every 50 ms for up to 10 s until it gives a value.
    static func pollValue<Value>(_ produce: () async throws -> Value?) async throws -> Value? {
        for _ in 0..<200 {
            if let value = try await produce() { return value }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}
