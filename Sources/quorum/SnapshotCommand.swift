import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
import QuorumServer
import QuorumStorage
import QuorumStore
import QuorumWire

#if canImport(Glibc)
    import Glibc
#endif

/// `quorum snapshot`: backups of a running cluster, and new clusters made from them.
struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Back up a running cluster, describe a backup, restore one into a new cluster.",
        subcommands: [Save.self, Status.self, Restore.self])

    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save every group's store, each at a linearizable point, into FILE; writes go on meanwhile.",
            discussion: """
                The groups are those any node among --endpoints hosts: list every node. Each group's leader answers \
                after a ReadIndex with its store as it then is, so every write acknowledged at or below the revision \
                printed for a group is in the backup and none above it. Groups are taken one after another, each at \
                its own point; a shard move, the one thing that spans groups, must not overlap the backup, which is \
                taken again (until --timeout) if one did. Raise --timeout for large stores.
                """)
        @Argument(help: "The file to write (replaced atomically once complete).") var file: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let backup: BackupFile
            do {
                backup = try await Self.take(options)
            } catch let error as QuorumClientError {
                fail("\(error)")
            }
            let bytes = backup.encoded
            do {
                try writeDurably(bytes, to: file)
            } catch {
                fail("cannot write \(file): \(error)")
            }
            let summary = BackupSummary(backup, file: file, bytes: bytes.count)
            options.output(
                "saved \(summary.groups.count) group\(summary.groups.count == 1 ? "" : "s") to \(file): "
                    + summary.revisionText + ", \(summary.keys) keys, \(summary.bytes) bytes", json: summary)
        }

        /// A shard move hands keys from one group to another in steps; a backup that took the two groups on either
        /// side of a step could hold the moving keys in neither. So the shard map is read before and after: no move
        /// may be under way at the start, and the epoch, which every move's first step changes, must not have moved.
        /// A backup that a move overlapped is taken again, until `--timeout` has passed.
        static func take(_ options: ClientOptions) async throws -> BackupFile {
            let client = try options.makeClient()
            do {
                let backup = try await take(options, using: client)
                await client.close()
                return backup
            } catch {
                await client.close()
                throw error
            }
        }

        private static func take(_ options: ClientOptions, using client: QuorumClient) async throws -> BackupFile {
            var groups = Set<GroupID>()
            var reached = 0
            for endpoint in await client.endpoints {
                guard let hosted = try? await client.groups(of: endpoint) else { continue }
                reached += 1
                groups.formUnion(hosted.map(\.group))
            }
            guard reached > 0 else { throw QuorumClientError.refused("no node among the endpoints answered") }
            var overlapped = ""
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(options.timeout)
            while overlapped.isEmpty || clock.now < deadline {
                if !overlapped.isEmpty {
                    FileHandle.standardError.write(Data("quorum snapshot: \(overlapped); taking it again\n".utf8))
                    try await Task.sleep(for: .milliseconds(500))
                }
                let before = try await client.shardMap()
                guard before.migrations.isEmpty else {
                    overlapped = "\(before.migrations.count) shard move(s) under way (quorum shard list)"
                    continue
                }
                let backup = try await take(groups.sorted(), options)
                let after = try await client.shardMap()
                if after.epoch == before.epoch { return backup }
                overlapped = "the shard map changed during the backup (epoch \(before.epoch) to \(after.epoch))"
            }
            throw QuorumClientError.refused(
                "\(overlapped), until the timeout (\(options.timeout) s): back up once the moves have finished")
        }

        /// Each group's store, one group after another.
        private static func take(_ groups: [GroupID], _ options: ClientOptions) async throws -> BackupFile {
            var taken: [BackupFile.Group] = []
            var cluster: (id: UInt64, groups: Int?)?
            let progress = ProgressLine()
            defer { progress.finish() }
            for (position, group) in groups.enumerated() {
                var addressed = options
                addressed.group = group.rawValue
                let groupClient = try addressed.makeClient()
                let answer: GroupBackup
                do {
                    answer = try await groupClient.backup()
                    await groupClient.close()
                } catch {
                    await groupClient.close()
                    throw error
                }
                if let cluster, cluster.id != answer.clusterID {
                    throw QuorumClientError.refused(
                        "\(group) answered from cluster \(ClusterIdentity.describe(answer.clusterID)), and the groups "
                            + "before it from cluster \(ClusterIdentity.describe(cluster.id)): the endpoints span two "
                            + "clusters")
                }
                cluster = (answer.clusterID, cluster?.groups ?? answer.clusterGroups)
                do {
                    taken.append(try BackupFile.Group(answer))
                } catch {
                    throw QuorumClientError.refused("\(group)'s leader sent a store that is not usable: \(error)")
                }
                let last = taken[taken.count - 1]
                progress.show(
                    "backed up group \(group.rawValue) (\(position + 1) of \(groups.count)): revision "
                        + "\(last.revision.rawValue), \(last.keyCount) keys, \(last.store.count) bytes")
            }
            guard let cluster, let clusterGroups = cluster.groups else {
                throw QuorumClientError.refused("no group's leader knew how many groups the cluster was founded with")
            }
            do {
                return try BackupFile(
                    takenAt: UInt64(Date().timeIntervalSince1970 * 1000), clusterID: cluster.id,
                    clusterGroups: clusterGroups, groups: taken)
            } catch {
                throw QuorumClientError.refused("the cluster's groups do not make a backup: \(error)")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a backup file and describe it: when it was taken, its groups, revisions, keys and size.")
        @Argument(help: "The backup file.") var file: String
        @Flag(help: "Print JSON for scripts instead of text.") var json = false

        func run() throws {
            let (backup, size) = readBackup(file)
            let summary = BackupSummary(backup, file: file, bytes: size)
            guard !json else {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
                return
            }
            var lines = [
                "backup     \(file)",
                "taken at   \(summary.takenAt)",
                "cluster    \(summary.cluster) (founded with \(summary.clusterGroups) group"
                    + "\(summary.clusterGroups == 1 ? "" : "s"))",
                "groups     \(summary.groups.count)",
                summary.groups.count == 1 ? "revision   \(summary.groups[0].revision)" : "revisions  per group, below",
                "keys       \(summary.keys)",
                "size       \(summary.bytes) bytes",
            ]
            if summary.groups.count > 1 {
                let widths = [8, 12, 12, 10, 0]
                lines.append("")
                lines.append(tableRow(["GROUP", "REVISION", "APPLIED", "KEYS", "BYTES"], widths))
                for group in summary.groups {
                    lines.append(
                        tableRow(
                            [
                                "\(group.group)", "\(group.revision)", "\(group.appliedIndex)", "\(group.keys)",
                                "\(group.storeBytes)",
                            ], widths))
                }
            }
            print(lines.joined(separator: "\n"))
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Create one node's data directory of a new cluster from a backup: a new cluster id, the same data.",
            discussion: """
                Restore every member of the new cluster from the same FILE with the same --cluster list, each with its \
                own --id and --data-dir, then start each with `quorum server` and the same --id, --cluster and \
                --data-dir. Every group of the backup is restored on every member, each member a voter; the cluster \
                is founded with the group count of the backed-up one. The new cluster's id differs from the \
                backed-up cluster's, so the two never take each other's messages.
                """)
        @Argument(help: "The backup file.") var file: String
        @Option(help: "The data directory to create; it must not exist or be empty (env QUORUM_DATA_DIR).")
        var dataDir: String?
        @Option(help: "This node's id in the new cluster (env QUORUM_ID).") var id: UInt64?
        @Option(help: "The new cluster's members: ID=HOST:PEER_PORT:CLIENT_PORT, comma-separated (env QUORUM_CLUSTER).")
        var cluster: String?

        func run() throws {
            guard let dataDir = dataDir ?? environment("QUORUM_DATA_DIR") else {
                throw ValidationError("give the data directory to create with --data-dir or QUORUM_DATA_DIR")
            }
            guard let id = id ?? environment("QUORUM_ID").flatMap({ UInt64($0) }), id > 0 else {
                throw ValidationError("give this node's id (from 1) with --id or QUORUM_ID")
            }
            guard let list = cluster ?? environment("QUORUM_CLUSTER") else {
                throw ValidationError("give the new cluster's members with --cluster or QUORUM_CLUSTER")
            }
            let members = try Server.members(from: list, including: id)
            let (backup, _) = readBackup(file)
            let outcome: ClusterRestore.Outcome
            let progress = ProgressLine()
            do {
                outcome = try ClusterRestore.restore(backup, into: dataDir, node: NodeID(id), members: members) {
                    group, position in
                    progress.show(
                        "restored group \(group.group.rawValue) (\(position) of \(backup.groups.count)): "
                            + "\(group.keyCount) keys, \(group.store.count) bytes")
                }
                progress.finish()
            } catch {
                progress.finish()
                fail("cannot restore \(file) into \(dataDir): \(error)")
            }
            print(
                "restored \(outcome.groups) group\(outcome.groups == 1 ? "" : "s") from \(file) into \(dataDir), node "
                    + "\(id) of new cluster \(outcome.clusterDescription); start it with: quorum server --id \(id) "
                    + "--cluster \(list) --data-dir \(dataDir)")
        }
    }
}

/// What `snapshot save` and `snapshot status` print about a backup.
struct BackupSummary: Encodable {
    struct Group: Encodable {
        var group: UInt64
        var revision: UInt64
        var appliedIndex: UInt64
        var keys: UInt64
        var storeBytes: Int
    }

    var file: String
    var takenAt: String
    var cluster: String
    var clusterGroups: Int
    var keys: UInt64
    var bytes: Int
    var groups: [Group]

    init(_ backup: BackupFile, file: String, bytes: Int) {
        self.file = file
        let formatter = ISO8601DateFormatter()
        takenAt = formatter.string(from: Date(timeIntervalSince1970: Double(backup.takenAt) / 1000))
        cluster = ClusterIdentity.describe(backup.clusterID)
        clusterGroups = backup.clusterGroups
        keys = backup.keyCount
        self.bytes = bytes
        groups = backup.groups.map {
            Group(
                group: $0.group.rawValue, revision: $0.revision.rawValue, appliedIndex: $0.appliedIndex.rawValue,
                keys: $0.keyCount, storeBytes: $0.store.count)
        }
    }

    /// The revision of a one-group backup, or each group's.
    var revisionText: String {
        groups.count == 1
            ? "revision \(groups[0].revision)"
            : "revisions " + groups.map { "\($0.revision) (group \($0.group))" }.joined(separator: ", ")
    }
}

/// Reads and checks a backup file, or ends the command saying why it is refused.
private func readBackup(_ file: String) -> (BackupFile, Int) {
    guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
    do {
        return (try BackupFile(decoding: Array(data)), data.count)
    } catch {
        fail("\(file) is refused: \(error)")
    }
}

/// Prints `message` on standard error and exits with status 1.
private func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("quorum snapshot: \(message)\n".utf8))
    Foundation.exit(1)
}

/// Writes `bytes` to `path` through a temporary file that is synced and then renamed into place, so that `path`
/// holds either its old contents or the whole new file, also after a crash.
private func writeDurably(_ bytes: [UInt8], to path: String) throws {
    let temporary = path + ".tmp"
    guard FileManager.default.createFile(atPath: temporary, contents: nil),
        let handle = FileHandle(forWritingAtPath: temporary)
    else { throw CocoaError(.fileWriteNoPermission) }
    do {
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
        try handle.close()
    } catch {
        try? FileManager.default.removeItem(atPath: temporary)
        throw error
    }
    guard rename(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    let directory = parentDirectory(of: path)
    let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY)
    if descriptor >= 0 {
        fsync(descriptor)
        close(descriptor)
    }
}
