import Foundation
import QuorumConsensus
import QuorumStore
import Testing

@testable import QuorumClient
@testable import QuorumSimulation

/// Three real `quorum server` processes on 127.0.0.1.
@Suite("Cluster of real processes", .serialized, .realProcesses)
struct ClusterTests {
    /// Polls until some node reports itself leader; returns its id.
    static func awaitLeader(_ client: QuorumClient, _ cluster: ClusterProcesses, excluding: Int? = nil) async throws
        -> Int
    {
        for _ in 0..<200 {
            for member in cluster.members where member.id != excluding && member.process != nil {
                if let status = try? await client.status(of: member.clientEndpoint), status.role == "leader" {
                    return Int(status.node.rawValue)
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LeaderMissing()
    }

    struct LeaderMissing: Error {}

    /// Three `quorum server` processes with a leader, and a client for them. The caller stops them.
    static func startCluster(arguments: [String] = [], tickMilliseconds: Int = 20) async throws
        -> (ClusterProcesses, QuorumClient)
    {
        let cluster = try ClusterProcesses(size: 3)
        cluster.serverArguments = arguments
        cluster.tickMilliseconds = tickMilliseconds
        do {
            try cluster.startAll()
            let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
            _ = try await awaitLeader(client, cluster)
            return (cluster, client)
        } catch {
            cluster.stopAll()
            throw error
        }
    }

    /// A one-node cluster with a leader, for tests of one node's Redis port.
    static func startOneNode() async throws -> ClusterProcesses {
        let cluster = try ClusterProcesses(size: 1)
        do {
            try cluster.startAll()
            let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
            _ = try await awaitLeader(client, cluster)
            await client.close()
            return cluster
        } catch {
            cluster.stopAll()
            throw error
        }
    }

    /// A redis-server and a one-node Quorum cluster side by side, for tests that compare their replies.
    static func startBesideRedis() async throws -> (redis: RedisServers, quorum: ClusterProcesses) {
        let servers = try RedisServers(count: 1)
        try await servers.startAll()
        do {
            return (servers, try await startOneNode())
        } catch {
            servers.stopAll()
            throw error
        }
    }

    @Test("writes and reads through the client and through the command line")
    func clientAndCommandLine() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--max-request-bytes", "4096"])
        defer { cluster.stopAll() }

        try await client.put(Array("greeting".utf8), Array("hello".utf8))
        #expect(try await client.get(Array("greeting".utf8))?.value == Array("hello".utf8))
        // Without peer certificates a node says, at every start, that anyone on the peer port can speak for a member.
        #expect(cluster.output(of: 1).contains("WARNING: peers are unauthenticated"))

        let endpoints = cluster.clientEndpoints.joined(separator: ",")
        let put = try await cluster.runCommand(["put", "cli-key", "cli-value", "--endpoints", endpoints])
        #expect(put.status == 0)
        let get = try await cluster.runCommand(["get", "cli-key", "--endpoints", endpoints])
        #expect(get.status == 0)
        #expect(get.output == "cli-value\n")
        #expect(try await client.get(Array("cli-key".utf8))?.value == Array("cli-value".utf8))
        await #expect(throws: QuorumClientError.self, "a write over the request limit is refused") {
            try await client.put(Array("big".utf8), [UInt8](repeating: 1, count: 5_000))
        }
        #expect(try await client.get(Array("big".utf8)) == nil)
        // The cluster's member addresses cannot be written by clients, not even inside a transaction.
        let reserved = Array("\u{0}quorum/members/9".utf8)
        await #expect(throws: QuorumClientError.self) { try await client.put(reserved, Array("x".utf8)) }
        await #expect(throws: QuorumClientError.self) {
            try await client.transaction(
                TransactionRequest(compare: [], success: [.put(PutRequest(key: reserved, value: [1]))]))
        }
        await #expect(throws: QuorumClientError.self) { try await client.delete([0], rangeEnd: [1]) }
        let json = try await cluster.runCommand(["get", "cli-key", "--json", "--endpoints", endpoints])
        let decoded = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect(decoded?["value"] as? String == "cli-value")
        #expect(decoded?["version"] as? Int == 1)
        let listed = try await cluster.runCommand(["range", "cli-", "--prefix", "--endpoints", endpoints])
        #expect(listed.status == 0)
        #expect(listed.output == "cli-key = cli-value\n")
        let missing = try await cluster.runCommand(["get", "no-such-key", "--endpoints", endpoints])
        #expect(missing.status == 2, "a missing key exits with 2")
        let unreachable = try await cluster.runCommand(["get", "x", "--endpoints", "127.0.0.1:1", "--timeout", "1"])
        #expect(unreachable.status == 1, "an unreachable cluster exits with 1")
        let swapped = try await cluster.runCommand([
            "txn", "--compare", "cli-key value = cli-value", "--then", "put cli-key swapped", "--else", "get cli-key",
            "--endpoints", endpoints,
        ])
        #expect(swapped.status == 0)
        #expect(swapped.output.hasPrefix("SUCCEEDED"))
        let refused = try await cluster.runCommand([
            "txn", "--compare", "cli-key value = cli-value", "--then", "put cli-key again", "--else", "get cli-key",
            "--endpoints", endpoints,
        ])
        #expect(refused.status == 3, "a transaction whose comparison fails exits with 3")
        #expect(refused.output.contains("cli-key = swapped"))
        let status = try await cluster.runCommand(["cluster", "status", "--endpoints", endpoints])
        #expect(status.status == 0)
        #expect(status.output.contains("leader"))
        #expect(status.output.contains("LAG"))

        // --watch keeps redrawing; piped, each table follows the last, each one written as it is drawn.
        let watchOutput = cluster.directory.appendingPathComponent("status-watch.out")
        let watching = try Self.shell(
            "\(try ClusterProcesses.quorumExecutable().path) cluster status --watch --interval 0.2 --endpoints "
                + endpoints, in: cluster.directory, environment: ProcessInfo.processInfo.environment,
            output: watchOutput)
        defer {
            watching.terminate()
            watching.waitUntilExit()
        }
        let redrawn = try await Self.poll {
            let text = (try? String(contentsOf: watchOutput, encoding: .utf8)) ?? ""
            return text.components(separatedBy: "ENDPOINT").count > 3 && text.contains("leader")
        }
        #expect(redrawn, "cluster status --watch did not draw three tables")
        await client.close()
    }

    @Test(
        "a SIGKILLed leader under load loses no acknowledged write, the history is linearizable, and it catches up",
        arguments: ConsensusKind.allCases)
    func leaderKilledUnderLoad(consensus: ConsensusKind) async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        cluster.serverArguments = ["--consensus", consensus.rawValue]
        try cluster.startAll()
        let observer = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        let firstLeader = try await Self.awaitLeader(observer, cluster)

        let recorder = HistoryRecorder()
        let endpoints = cluster.clientEndpoints
        let writers = (0..<4).map { writer in
            Task {
                let client = QuorumClient(endpoints: endpoints, timeout: .seconds(10))
                for round in 0..<60 {
                    await recorder.perform(client: client, writer: writer, round: round)
                }
                await client.close()
            }
        }
        try await Task.sleep(for: .milliseconds(400))
        cluster.kill(firstLeader)
        let secondLeader = try await Self.awaitLeader(observer, cluster, excluding: firstLeader)
        #expect(secondLeader != firstLeader)
        for writer in writers { await writer.value }

        // Every acknowledged write is still readable, through the new leader.
        let acknowledged = await recorder.acknowledgedWrites
        #expect(acknowledged.count > 100, "the load ran")
        for (key, value) in acknowledged {
            let found = try await observer.get(Array(key.utf8))
            #expect(found?.value == Array("\(value)".utf8), "acknowledged write \(key)=\(value) lost")
        }

        // The history of the shared registers is linearizable.
        let verdict = LinearizabilityChecker().check(await recorder.history)
        #expect(verdict == .linearizable, "\(verdict)")

        // The killed node restarts from its data directory and catches up with the others.
        try cluster.start(firstLeader)
        let leaderStatus = try await observer.status(of: cluster.members[secondLeader - 1].clientEndpoint)
        var caughtUp = false
        for _ in 0..<200 where !caughtUp {
            if let status = try? await observer.status(of: cluster.members[firstLeader - 1].clientEndpoint),
                status.appliedIndex >= leaderStatus.commitIndex
            {
                caughtUp = true
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(caughtUp, "the restarted node did not catch up to \(leaderStatus.commitIndex)")
        await observer.close()
    }
}

extension ClusterTests {
    @Test(
        "a fourth node joins as a learner, catches up and is promoted; a removed node learns it and exits; leadership moves",
        arguments: ConsensusKind.allCases)
    func membershipChanges(consensus: ConsensusKind) async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--consensus", consensus.rawValue])
        defer { cluster.stopAll() }
        for number in 0..<30 { try await client.put(Array("before-\(number)".utf8), Array("\(number)".utf8)) }

        let newcomer = try cluster.addMember()
        let added = try await client.addMember(
            NodeID(UInt64(newcomer.id)), address: "127.0.0.1:\(newcomer.peerPort):\(newcomer.clientPort)")
        #expect(added.learners.contains(NodeID(4)) || added.voters.contains(NodeID(4)))
        try cluster.start(newcomer.id, joining: true)
        var promoted = false
        for _ in 0..<200 where !promoted {
            let status = try? await client.status(of: newcomer.clientEndpoint)
            promoted = status?.voters.contains(NodeID(4)) == true && status?.appliedIndex ?? 0 >= added.commitIndex
            if !promoted { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(promoted, "the newcomer was not promoted after catching up")
        let direct = QuorumClient(endpoints: [newcomer.clientEndpoint])
        let replicated = try await direct.get(Array("before-29".utf8), linearizable: false)
        await direct.close()
        #expect(replicated?.value == Array("29".utf8), "the newcomer holds what was written before it joined")

        let leader = try await Self.awaitLeader(client, cluster)
        let victim = leader == 1 ? 2 : 1
        let removed = try await client.removeMember(NodeID(UInt64(victim)))
        #expect(!removed.voters.contains(NodeID(UInt64(victim))))
        #expect(removed.voters.count == 3)
        // The leader stops replicating to it at once, so it hears nothing until it asks for votes; then the leader
        // tells it, and it stops with a clear message instead of campaigning forever.
        let exit = try await cluster.awaitExit(victim)
        #expect(exit?.status == 3, "the removed node did not exit by itself")
        #expect(
            exit?.log.contains("node \(victim) was removed from the cluster") == true, "\(exit?.log.suffix(500) ?? "")")
        try await client.put(Array("after-removal".utf8), Array("ok".utf8))

        try await client.transferLeadership(to: NodeID(4))
        #expect(try await Self.awaitLeader(client, cluster, excluding: leader) == 4)
        #expect(try await client.get(Array("after-removal".utf8))?.value == Array("ok".utf8))

        // A leader that removes itself commits its own removal, so it knows without being told; the two left
        // elect a leader and serve.
        let shrunk = try await client.removeMember(NodeID(4))
        #expect(shrunk.voters.count == 2 && !shrunk.voters.contains(NodeID(4)))
        let leaderExit = try await cluster.awaitExit(4)
        #expect(leaderExit?.status == 3, "the leader that removed itself did not exit")
        #expect(leaderExit?.log.contains("its own log committed the removal") == true)
        try await client.put(Array("after-leader-removal".utf8), Array("ok".utf8))
        #expect(try await client.get(Array("after-leader-removal".utf8))?.value == Array("ok".utf8))
        await client.close()
    }
}

extension ClusterTests {
    @Test(
        "a founding leader that removes itself exits, and exits again when restarted on its data",
        arguments: ConsensusKind.allCases)
    func founderRemovesItself(consensus: ConsensusKind) async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--consensus", consensus.rawValue])
        defer { cluster.stopAll() }
        let leader = try await Self.awaitLeader(client, cluster)
        try await client.put(Array("before".utf8), Array("1".utf8))
        _ = try await client.removeMember(NodeID(UInt64(leader)))
        let first = try await cluster.awaitExit(leader)
        #expect(first?.status == 3 && first?.log.contains("its own log committed the removal") == true)
        // Its data holds the committed removal: restarted on it, it neither serves nor campaigns, but says why.
        try cluster.start(leader)
        let again = try await cluster.awaitExit(leader)
        #expect(again?.status == 3, "the restarted ex-member kept running")
        #expect(again?.log.contains("node \(leader) was removed from the cluster") == true)
        try await client.put(Array("after".utf8), Array("2".utf8))
        #expect(try await client.get(Array("before".utf8))?.value == Array("1".utf8))
        await client.close()
    }
}

extension ClusterTests {
    @Test("a key attached to a lease goes when the lease expires or is revoked, and stays while kept alive")
    func leases() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }

        let expiring = try await client.grantLease(ttl: 1)
        try await client.put(Array("ephemeral".utf8), Array("x".utf8), lease: expiring)
        let kept = try await client.grantLease(ttl: 1)
        try await client.put(Array("kept".utf8), Array("y".utf8), lease: kept)
        let revoked = try await client.grantLease(ttl: 60)
        try await client.put(Array("revoked".utf8), Array("z".utf8), lease: revoked)

        let listed = try await client.leases()
        #expect(Set(listed.map(\.id)) == [expiring, kept, revoked])
        #expect(listed.first { $0.id == kept }?.keys == [Array("kept".utf8)])
        #expect(listed.first { $0.id == revoked }.map { $0.remainingSeconds > 50 } == true)

        try await client.revokeLease(revoked)
        #expect(try await client.get(Array("revoked".utf8)) == nil, "revoking deletes at once")

        // Keep one lease alive while the other's TTL runs out; the leader revokes the expired one by itself.
        var expired = false
        for _ in 0..<40 where !expired {
            try await client.keepAlive(kept)
            try await Task.sleep(for: .milliseconds(100))
            expired = try await client.get(Array("ephemeral".utf8)) == nil
        }
        #expect(expired, "the unrenewed lease never expired")
        #expect(try await client.get(Array("kept".utf8))?.value == Array("y".utf8), "a renewed lease expired")
        await #expect(throws: QuorumClientError.self) { try await client.keepAlive(expiring) }
        await client.close()
    }
}

extension ClusterTests {
    @Test("the leader compacts old history by itself: old revisions become unreadable, current ones stay")
    func automaticCompaction() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--history-revisions", "20"])
        defer { cluster.stopAll() }
        // The revision each write made: the cluster's own writes (a lease revoke, a member's address) may fall
        // between them, so revisions are not assumed to count the test's writes.
        var revisions: [Revision] = []
        for number in 0..<60 {
            revisions.append(try await client.put(Array("counter".utf8), Array("\(number)".utf8)).revision)
        }
        var compacted = false
        for _ in 0..<100 where !compacted {
            do {
                _ = try await client.range(RangeRequest(key: Array("counter".utf8), revision: revisions[1]))
                try await Task.sleep(for: .milliseconds(20))
            } catch QuorumClientError.store(.compacted) {
                compacted = true
            }
        }
        #expect(compacted, "the second write's revision was still readable after 60 writes with 20 retained")
        let recent = try await client.range(RangeRequest(key: Array("counter".utf8), revision: revisions[54]))
        #expect(recent.kvs.first?.value == Array("54".utf8))
        #expect(try await client.get(Array("counter".utf8))?.value == Array("59".utf8))
        await client.close()
    }
}

extension ClusterTests {
    @Test(
        "a watch sees every change in a range in order, replays history from a revision, and refuses compacted history")
    func watches() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--history-revisions", "20"])
        defer { cluster.stopAll() }
        let first = try await client.put(Array("app/a".utf8), Array("1".utf8))

        // Starting right after the first write makes the test independent of when the watch reaches its node.
        let live = try await client.watch(
            Array("app/".utf8), rangeEnd: KeyRange.prefixEnd(of: Array("app/".utf8)),
            startRevision: Revision(first.revision.rawValue + 1))
        try await client.put(Array("other".utf8), Array("ignored".utf8))
        try await client.put(Array("app/b".utf8), Array("2".utf8))
        try await client.delete(Array("app/a".utf8))
        var seen: [String] = []
        for try await events in live {
            seen += events.map { "\($0.kind) \(String(decoding: $0.kv.key, as: UTF8.self))" }
            if seen.count >= 2 { break }
        }
        #expect(seen == ["put app/b", "delete app/a"])

        let replay = try await client.watch(
            Array("app/".utf8), rangeEnd: KeyRange.prefixEnd(of: Array("app/".utf8)), startRevision: first.revision)
        var replayed: [String] = []
        for try await events in replay {
            replayed += events.map { "\($0.kind) \(String(decoding: $0.kv.key, as: UTF8.self))" }
            if replayed.count >= 3 { break }
        }
        #expect(replayed == ["put app/a", "put app/b", "delete app/a"])

        // A start revision the node has not reached yet: nothing before it is delivered, even as it is applied.
        let now = try await client.range(RangeRequest(key: Array("app/".utf8))).revision
        let future = try await client.watch(Array("app/f".utf8), startRevision: Revision(now.rawValue + 3))
        for number in 1...4 { try await client.put(Array("app/f".utf8), Array("\(number)".utf8)) }
        var fromFuture: [String] = []
        for try await events in future {
            fromFuture += events.map { String(decoding: $0.kv.value, as: UTF8.self) }
            if fromFuture.count >= 2 { break }
        }
        #expect(fromFuture == ["3", "4"])

        for number in 0..<60 { try await client.put(Array("churn".utf8), Array("\(number)".utf8)) }
        var ended: QuorumClientError?
        for _ in 0..<50 where ended == nil {
            do {
                for try await _ in try await client.watch(Array("app/".utf8), startRevision: first.revision) {}
            } catch let error as QuorumClientError {
                if case .watchEnded = error { ended = error }
            }
            if ended == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(ended != nil, "a watch from compacted history was not refused")
        await client.close()
    }
}

extension ClusterTests {
    @Test("nodes configured by a JSON file and the environment form a cluster; --listen-host says where ports are bound")
    func configurationFile() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        for member in cluster.members { try cluster.startFromConfigurationFile(member.id) }
        let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        _ = try await Self.awaitLeader(client, cluster)
        try await client.put(Array("configured".utf8), Array("yes".utf8))
        #expect(try await client.get(Array("configured".utf8))?.value == Array("yes".utf8))
        let missing = try await cluster.runCommand([
            "server", "--data-dir", cluster.directory.appendingPathComponent("x").path,
        ])
        #expect(missing.status != 0, "a server without an id or a cluster refuses to start")
        // --listen-host is where the ports are bound: an address this machine does not have (TEST-NET-3) cannot be.
        let member = cluster.members[0]
        let unbindable = try await cluster.runCommand(
            [
                "server", "--id", "1", "--cluster", "1=127.0.0.1:\(member.peerPort):\(member.clientPort)",
                "--data-dir", cluster.directory.appendingPathComponent("y").path, "--listen-host", "203.0.113.7",
            ], includingErrors: true)
        #expect(unbindable.status == 2 && unbindable.output.contains("203.0.113.7"), "\(unbindable.output)")
        await client.close()
    }
}

extension ClusterTests {
    @Test("service instances register with leases, subscribers see every change, and a deregistered one goes")
    func serviceRegistry() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }

        let first = try await client.register(
            ServiceInstance(service: "api", id: "a", address: "127.0.0.1:9001"), ttl: 2)
        var updates = try await client.watchInstances(of: "api").makeAsyncIterator()
        #expect(try await updates.next()?.map(\.id) == ["a"])
        let second = try await client.register(
            ServiceInstance(service: "api", id: "b", address: "127.0.0.1:9002", weight: 3, metadata: ["zone": "x"]),
            ttl: 2)
        #expect(try await updates.next()?.map(\.id) == ["a", "b"])
        #expect(try await client.instances(of: "api").last?.metadata == ["zone": "x"])
        try await first.deregister()
        #expect(try await updates.next()?.map(\.id) == ["b"])
        // Renewal keeps the other registered past its TTL.
        try await Task.sleep(for: .seconds(3))
        #expect(try await client.instances(of: "api").map(\.id) == ["b"])
        try await second.deregister()
        await client.close()
    }
}

extension ClusterTests {
    @Test("serializable reads are spread over every node, not sent to the leader alone")
    func serializableReadsAreBalanced() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        try await client.put(Array("spread".utf8), Array("x".utf8))
        // A fresh client, so that only the reads open its connections. Concurrent reads keep several outstanding
        // at once, which is what least-outstanding balances on.
        let reader = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<30 { group.addTask { _ = try await reader.get(Array("spread".utf8), linearizable: false) } }
            try await group.waitForAll()
        }
        #expect(await reader.connectedEndpoints == Set(cluster.clientEndpoints))
        await reader.close()
        await client.close()
    }
}

extension ClusterTests {
    @Test("a node that joins after the log was compacted catches up from a snapshot sent over the network, in parts")
    func newcomerCatchesUpFromSnapshot() async throws {
        // Peer frames of 4 KiB: the snapshot (about 100 KiB of history), and the larger appends, travel in parts.
        let (cluster, client) = try await Self.startCluster(arguments: [
            "--snapshot-entries", "20", "--peer-frame-bytes", "4096",
        ])
        defer { cluster.stopAll() }
        let filler = String(repeating: "x", count: 1_000)
        for number in 0..<100 {
            try await client.put(Array("key-\(number % 10)".utf8), Array("\(filler)\(number)".utf8))
        }
        let newcomer = try cluster.addMember()
        try await client.addMember(NodeID(4), address: "127.0.0.1:\(newcomer.peerPort):\(newcomer.clientPort)")
        try cluster.start(newcomer.id, joining: true)
        let direct = QuorumClient(endpoints: [newcomer.clientEndpoint], timeout: .seconds(10))
        var caughtUp = false
        for _ in 0..<200 where !caughtUp {
            caughtUp =
                (try? await direct.get(Array("key-9".utf8), linearizable: false))??.value == Array("\(filler)99".utf8)
            if !caughtUp { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(caughtUp, "the newcomer never reached the state written before it joined")
        #expect(try await direct.get(Array("key-0".utf8), linearizable: false)?.value == Array("\(filler)90".utf8))
        let snapshots = cluster.directory.appendingPathComponent("n4/groups/1/snapshots").path
        #expect(
            (try? FileManager.default.contentsOfDirectory(atPath: snapshots))?.isEmpty == false,
            "the newcomer caught up without a snapshot, so this test did not exercise InstallSnapshot")
        // Both ends log the transfer, so that an operator sees a slow catch-up under way.
        #expect(cluster.output(of: 4).contains("received from node "), "\(cluster.output(of: 4).suffix(2000))")
        #expect(cluster.members.prefix(3).contains { cluster.output(of: $0.id).contains("sending node 4 the snapshot") })
        await direct.close()
        await client.close()
    }
}

/// Runs a register workload against the cluster and records it for the linearizability checker: each writer
/// writes unique values to a few shared keys and reads them, and also writes a key of its own per round whose
/// acknowledgement is remembered.
actor HistoryRecorder {
    private(set) var history: [HistoryOperation] = []
    private(set) var acknowledgedWrites: [String: Int] = [:]
    private let start = ContinuousClock.now
    private var nextValue = 1

    private var now: UInt64 {
        let elapsed = start.duration(to: .now)
        return UInt64(elapsed.components.seconds) * 1_000_000
            + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
    }

    func perform(client: QuorumClient, writer: Int, round: Int) async {
        let key = "register-\(round % 3)"
        let invokedAt = now
        if round % 2 == 0 {
            let value = nextValue
            nextValue += 1
            do {
                try await client.put(Array(key.utf8), Array("\(value)".utf8))
                history.append(
                    HistoryOperation(
                        client: writer, key: key, operation: .put(value), invokedAt: invokedAt, completedAt: now,
                        result: .ok))
            } catch {
                history.append(
                    HistoryOperation(
                        client: writer, key: key, operation: .put(value), invokedAt: invokedAt, completedAt: nil,
                        result: nil))
            }
            let own = "writer-\(writer)-\(round)"
            if (try? await client.put(Array(own.utf8), Array("\(value)".utf8))) != nil {
                acknowledgedWrites[own] = value
            }
        } else {
            do {
                let found = try await client.get(Array(key.utf8))
                let value = found.flatMap { Int(String(decoding: $0.value, as: UTF8.self)) }
                history.append(
                    HistoryOperation(
                        client: writer, key: key, operation: .get, invokedAt: invokedAt, completedAt: now,
                        result: .value(value)))
            } catch {
                // A failed read has no effect: leave it out.
            }
        }
    }
}

extension ClusterTests {
    /// A watch from long ago used to be answered with its whole history at once, buffered for a client that might
    /// never read it (30 such watches grew a leader by 590 MB). It is now sent a page at a time as the socket
    /// drains: every event still arrives once, in order, transactions split across pages included, then live ones.
    @Test("a watch replays a history of many pages in order, then goes live")
    func pagedWatchReplay() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let prefix = Array("paged/".utf8)
        var written: [String] = []
        var revisions: [Revision] = []
        // 120 puts per transaction, so that pages of 1,000 events cut through transactions.
        for batch in 0..<25 {
            let keys = (0..<120).map { "paged/\(batch)/\($0)" }
            let response = try await client.transaction(
                TransactionRequest(
                    compare: [], success: keys.map { .put(PutRequest(key: Array($0.utf8), value: [UInt8(batch)])) }))
            revisions.append(response.revision)
            written += keys
        }
        let watch = try await client.watch(
            prefix, rangeEnd: KeyRange.prefixEnd(of: prefix), startRevision: revisions[0])
        try await client.put(Array("paged/live".utf8), [9])
        written.append("paged/live")
        var seen: [String] = []
        for try await events in watch {
            seen += events.map { String(decoding: $0.kv.key, as: UTF8.self) }
            if seen.count >= written.count { break }
        }
        #expect(seen == written)
        await client.close()
    }
}
