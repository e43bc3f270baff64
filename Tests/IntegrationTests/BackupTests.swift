import Foundation
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumStore
import Synchronization
import Testing

/// `quorum snapshot save/status/restore` against real processes.
extension ClusterTests {
    /// Writes of a load, by group: each acknowledged key with its revision.
    final class WriteLoad: Sendable {
        private let stopped = Atomic(false)
        private let acknowledged = Mutex<[Int: [String: Revision]]>([:])

        func stop() { stopped.store(true, ordering: .relaxed) }
        func acknowledged(in group: Int) -> [String: Revision] { acknowledged.withLock { $0[group] ?? [:] } }

        /// Writes unique keys into `client`'s group until stopped (or 3,000 writes).
        func write(_ client: QuorumClient, group: Int, writer: Int) async {
            for sequence in 0..<3_000 where !stopped.load(ordering: .relaxed) {
                let key = "w-\(writer)-\(sequence)"
                if let written = try? await client.put(Array(key.utf8), Array("value-\(key)".utf8)) {
                    acknowledged.withLock { $0[group, default: [:]][key] = written.revision }
                }
            }
        }
    }

    /// Restores every member of `cluster` from `file` with `quorum snapshot restore`, then starts them.
    static func restore(_ file: String, into cluster: ClusterProcesses) async throws {
        for member in cluster.members {
            let outcome = try await cluster.runCommand(
                [
                    "snapshot", "restore", file, "--id", "\(member.id)", "--cluster", cluster.clusterArgument,
                    "--data-dir", cluster.directory.appendingPathComponent("n\(member.id)").path,
                ], includingErrors: true)
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(outcome.output.contains("restored group 1 (1 of "), "no progress line: \(outcome.output)")
        }
        try cluster.startAll()
    }

    @Test(
        "a backup taken under a write load restores into a new 3-node cluster: every write at or below its revision, none above"
    )
    func backupUnderLoadAndRestore() async throws {
        let groups = 2
        let (cluster, client) = try await Self.startCluster(arguments: ["--groups", "\(groups)"])
        defer { cluster.stopAll() }
        await client.close()
        let endpoints = cluster.clientEndpoints.joined(separator: ",")
        let clients = (1...groups).map {
            QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10), group: GroupID(UInt64($0)))
        }
        // Two writers per group, each keeping a write in flight all through the backup.
        let load = WriteLoad()
        let writers = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for writer in 0..<(2 * groups) {
                    let group = writer % groups + 1
                    tasks.addTask { await load.write(clients[group - 1], group: group, writer: writer) }
                }
            }
        }
        let loaded = try await Self.poll { (1...groups).allSatisfy { load.acknowledged(in: $0).count >= 50 } }
        #expect(loaded, "the writers did not get going")

        let file = cluster.directory.appendingPathComponent("backup.qbk").path
        let save = try await cluster.runCommand(
            ["snapshot", "save", file, "--endpoints", endpoints, "--timeout", "30", "--json"], includingErrors: true)
        #expect(save.status == 0, "\(save.output)")
        // A progress line per group, on standard error, beside the JSON summary on standard output.
        #expect(save.output.contains("backed up group 2 (2 of 2): revision "), "no progress line: \(save.output)")
        // The writers go on after the backup, so that some writes land above its revisions.
        let counts = (1...groups).map { load.acknowledged(in: $0).count }
        let movedOn = try await Self.poll {
            (1...groups).allSatisfy { load.acknowledged(in: $0).count >= counts[$0 - 1] + 30 }
        }
        #expect(movedOn, "the writers stopped during the backup")
        load.stop()
        await writers.value

        let status = try await cluster.runCommand(["snapshot", "status", file, "--json"])
        #expect(status.status == 0)
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        let described = try #require(summary["groups"] as? [[String: Any]])
        #expect(described.map { $0["group"] as? Int } == [1, 2])
        let revisions = described.map { Revision(UInt64($0["revision"] as? Int ?? 0)) }
        #expect(summary["clusterGroups"] as? Int == groups)

        // Damaged copies are refused, by status and by restore, and restore leaves no directory behind.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x01
        let corrupt = cluster.directory.appendingPathComponent("corrupt.qbk").path
        try flipped.write(to: URL(fileURLWithPath: corrupt))
        let truncated = cluster.directory.appendingPathComponent("truncated.qbk").path
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: truncated))
        let refusedDirectory = cluster.directory.appendingPathComponent("refused").path
        for (damaged, reason) in [(corrupt, "fail their checksum"), (truncated, "truncated")] {
            let described = try await cluster.runCommand(["snapshot", "status", damaged], includingErrors: true)
            #expect(described.status == 1)
            #expect(described.output.contains("\(damaged) is refused: it is") && described.output.contains(reason))
            let restored = try await cluster.runCommand(
                [
                    "snapshot", "restore", damaged, "--data-dir", refusedDirectory, "--id", "1", "--cluster",
                    cluster.clusterArgument,
                ], includingErrors: true)
            #expect(restored.status == 1 && restored.output.contains(reason), "\(restored.output)")
            #expect(!FileManager.default.fileExists(atPath: refusedDirectory))
        }

        // A fresh cluster on other ports, each member restored from the file.
        let restored = try ClusterProcesses(size: 3)
        defer { restored.stopAll() }
        try await Self.restore(file, into: restored)
        for group in 1...groups {
            let reader = QuorumClient(
                endpoints: restored.clientEndpoints, timeout: .seconds(20), group: GroupID(UInt64(group)))
            let found = try await reader.range(.prefix(Array("w-".utf8)))
            let present = Dictionary(
                uniqueKeysWithValues: found.kvs.map { (String(decoding: $0.key, as: UTF8.self), $0) })
            let cut = revisions[group - 1]
            let acked = load.acknowledged(in: group)
            let before = acked.filter { $0.value <= cut }
            let after = acked.filter { $0.value > cut }
            #expect(!before.isEmpty && !after.isEmpty, "group \(group): the backup did not fall inside the load")
            for (key, _) in before {
                #expect(present[key]?.value == Array("value-\(key)".utf8), "group \(group): \(key) is missing")
            }
            for (key, _) in after { #expect(present[key] == nil, "group \(group): \(key) came after the backup") }
            // Writes never acknowledged (in flight when the writers stopped) may be there only from before the cut.
            #expect(found.kvs.allSatisfy { $0.modRevision <= cut })
            // The restored group takes writes, after the backup's revision.
            let written = try await reader.put(Array("after-restore".utf8), Array("yes".utf8))
            #expect(written.revision > cut)
            await reader.close()
        }
        // Same data, new cluster: the restored members agree on an id that is not the old cluster's.
        let identity = { (processes: ClusterProcesses, node: Int) throws -> String in
            let text = try String(
                contentsOf: processes.directory.appendingPathComponent("n\(node)/CLUSTER"), encoding: .utf8)
            return String(text.split(separator: "\n").first { $0.hasPrefix("cluster-id ") } ?? "")
        }
        let restoredIDs = try Set((1...3).map { try identity(restored, $0) })
        #expect(restoredIDs.count == 1)
        #expect(restoredIDs.first != (try identity(cluster, 1)))
        for client in clients { await client.close() }
    }

    @Test("a backup larger than a client frame travels in parts and arrives whole")
    func backupLargerThanAFrame() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let value = [UInt8](repeating: 0x61, count: 1 << 20)
        for index in 0..<17 { try await client.put(Array("big-\(index)".utf8), value) }
        let backupClient = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(30))
        let backup = try await backupClient.backup()
        await backupClient.close()
        #expect(backup.store.count > 17 << 20)
        let store = try KeyValueStore(restoringFrom: backup.store)
        #expect(store.revision == backup.revision && store.liveKeyCount == 17)
        #expect(try store.range(.prefix(Array("big-".utf8))).kvs.allSatisfy { $0.value == value })
        await client.close()
    }

    @Test("a backup that slot moves overlap is taken again: restored, every key is where the restored map says")
    func backupDuringSlotMoves() async throws {
        let (cluster, client) = try await Self.startCluster(arguments: ["--groups", "2"])
        defer { cluster.stopAll() }
        await client.close()
        let sharded = ShardedClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        let keys = (0..<400).map { "k-\($0)" }
        for key in keys { try await sharded.put(Array(key.utf8), Array("v-\(key)".utf8)) }
        await sharded.close()
        // Slots with keys go back and forth between the groups while the backup is taken.
        let mover = ShardMover(endpoints: cluster.clientEndpoints)
        let moves = Task {
            for round in 0..<4 {
                _ = try await mover.move(.slots(0...4_000), to: GroupID(round % 2 == 0 ? 2 : 1))
            }
        }
        let file = cluster.directory.appendingPathComponent("moving.qbk").path
        let save = try await cluster.runCommand(
            [
                "snapshot", "save", file, "--endpoints", cluster.clientEndpoints.joined(separator: ","), "--timeout",
                "30",
            ],
            includingErrors: true)
        try await moves.value
        #expect(save.status == 0, "\(save.output)")

        let restored = try ClusterProcesses(size: 3)
        defer { restored.stopAll() }
        try await Self.restore(file, into: restored)
        let reader = ShardedClient(endpoints: restored.clientEndpoints, timeout: .seconds(20))
        let map = try await reader.shardMap()
        #expect(map.migrations.isEmpty, "the backup caught a move half-way")
        for key in keys {
            #expect(try await reader.get(Array(key.utf8))?.value == Array("v-\(key)".utf8), "\(key) was lost")
        }
        await reader.close()
        // No key is left behind in the group that does not own it.
        for group in [GroupID(1), GroupID(2)] {
            let groupClient = QuorumClient(endpoints: restored.clientEndpoints, timeout: .seconds(20), group: group)
            let stored = try await groupClient.range(.prefix(Array("k-".utf8)))
            #expect(stored.kvs.allSatisfy { map.owner(ofKey: $0.key) == group }, "\(group) holds keys it does not own")
            await groupClient.close()
        }
    }
}
