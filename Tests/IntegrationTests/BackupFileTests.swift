import Foundation
import QuorumConsensus
import QuorumServer
import QuorumStorage
import QuorumStore
import QuorumWire
import Testing

/// The backup file format (`BackupFile`) and the backup answer on the client connection, without processes.
@Suite("Backup file format")
struct BackupFileTests {
    /// A store with `keys` keys, one of them overwritten and one deleted, so it has history and a tombstone.
    static func store(keys: Int, prefix: String) -> KeyValueStore {
        var store = KeyValueStore()
        for index in 0..<keys {
            _ = store.apply(.put(PutRequest(key: Array("\(prefix)\(index)".utf8), value: Array("v\(index)".utf8))))
        }
        _ = store.apply(.put(PutRequest(key: Array("\(prefix)0".utf8), value: Array("again".utf8))))
        _ = store.apply(.deleteRange(DeleteRangeRequest(key: Array("\(prefix)1".utf8))))
        return store
    }

    static func group(_ id: UInt64, keys: Int) throws -> BackupFile.Group {
        let store = store(keys: keys, prefix: "g\(id)-")
        return try BackupFile.Group(
            GroupBackup(
                group: GroupID(id), clusterID: 0xfeed, clusterGroups: 2, revision: store.revision,
                appliedIndex: LogIndex(40 + id), store: store.snapshot()))
    }

    static func backup() throws -> BackupFile {
        try BackupFile(
            takenAt: 1_765_000_000_000, clusterID: 0xfeed, clusterGroups: 2,
            groups: [try group(1, keys: 5), try group(2, keys: 9)])
    }

    /// The refusal `bytes` get, or nil if they decode.
    static func refusal(_ bytes: [UInt8]) -> String? {
        do {
            _ = try BackupFile(decoding: bytes)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("a backup reads back as written, with each group's revision and the keys clients see")
    func roundTrip() throws {
        let backup = try Self.backup()
        let decoded = try BackupFile(decoding: backup.encoded)
        #expect(decoded == backup)
        #expect(decoded.groups.map(\.group) == [GroupID(1), GroupID(2)])
        // 5 keys, one deleted: 4; 9 keys, one deleted: 8. Revisions: one per key, one overwrite, one delete.
        #expect(decoded.groups.map(\.keyCount) == [4, 8])
        #expect(decoded.groups.map(\.revision) == [Revision(7), Revision(11)])
        #expect(decoded.keyCount == 12)
        #expect(decoded.clusterGroups == 2 && decoded.clusterID == 0xfeed && decoded.takenAt == 1_765_000_000_000)
        #expect(Array(backup.encoded.prefix(8)) == Array("QUORUMBK".utf8))
    }

    @Test("every truncation of a backup is refused, as truncated once the magic is whole")
    func truncationsAreRefused() throws {
        let bytes = try Self.backup().encoded
        for length in 0..<bytes.count {
            let refusal = try #require(Self.refusal(Array(bytes.prefix(length))), "a \(length)-byte prefix was read")
            #expect(refusal.contains("truncated"), "\(length) bytes: \(refusal)")
        }
    }

    @Test("every flipped byte is refused: magic, header, or the groups' checksum")
    func corruptionsAreRefused() throws {
        let bytes = try Self.backup().encoded
        for position in bytes.indices {
            var damaged = bytes
            damaged[position] ^= 0x40
            let refusal = try #require(Self.refusal(damaged), "a flip at byte \(position) went unnoticed")
            let expected =
                position < 8
                ? "not a Quorum backup"
                : position < BackupFile.headerBytes ? "header is damaged" : "fail their checksum"
            // The version is read before the header's checksum is checked.
            let version = (8..<12).contains(position) && refusal.contains("format version")
            #expect(refusal.contains(expected) || version, "byte \(position): \(refusal)")
        }
    }

    @Test("bytes after the backup, or a file of another version, are refused")
    func strayBytesAndVersions() throws {
        let bytes = try Self.backup().encoded
        #expect(Self.refusal(bytes + [0])?.contains("1 bytes follow") == true)
        var other = bytes
        other[8] = 2
        #expect(Self.refusal(other)?.contains("format version 2") == true)
        #expect(
            Self.refusal(Array("not a backup at all, but long enough to hold a header".utf8))?.contains(
                "not a Quorum backup") == true)
    }

    @Test("a well-checksummed file whose store does not restore, or disagrees with its header, is refused")
    func storesAreChecked() throws {
        var group = try Self.group(1, keys: 3)
        group.store[group.store.count / 2] ^= 0xff
        let garbled = try BackupFile(takenAt: 1, clusterID: 1, clusterGroups: 1, groups: [group])
        #expect(Self.refusal(garbled.encoded)?.contains("does not restore") == true)

        var miscounted = try Self.group(1, keys: 3)
        miscounted.keyCount += 1
        let lying = try BackupFile(takenAt: 1, clusterID: 1, clusterGroups: 1, groups: [miscounted])
        #expect(Self.refusal(lying.encoded)?.contains("the file says 3 at") == true)
    }

    @Test("a backup must hold group 1 and every founding group, in ascending order, and a founding count in range")
    func groupsAreValidated() throws {
        let one = try Self.group(1, keys: 2)
        let two = try Self.group(2, keys: 2)
        #expect(throws: BackupFileError.self) {
            try BackupFile(takenAt: 1, clusterID: 1, clusterGroups: 1, groups: [two])
        }
        #expect(throws: BackupFileError.self) {
            try BackupFile(takenAt: 1, clusterID: 1, clusterGroups: 2, groups: [one, two, two])
        }
        #expect(throws: BackupFileError.self) {
            try BackupFile(takenAt: 1, clusterID: 1, clusterGroups: 0, groups: [one])
        }
        #expect(throws: BackupFileError.self, "a founding group missing") {
            try BackupFile(takenAt: 1, clusterID: 1, clusterGroups: 3, groups: [one, two])
        }
        // A group added after the founding is backed up too.
        let five = try Self.group(5, keys: 1)
        #expect(try BackupFile(takenAt: 1, clusterID: 1, clusterGroups: 2, groups: [one, two, five]).groups.count == 3)
        let leader = GroupBackup(
            group: GroupID(1), clusterID: 1, clusterGroups: 1, revision: Revision(99), appliedIndex: 3,
            store: KeyValueStore().snapshot())
        #expect(throws: BackupFileError.self, "a store at another revision than its leader named") {
            try BackupFile.Group(leader)
        }
    }

    @Test("a backup answer crosses the client connection whole, and a truncated one is refused")
    func backupResponseOnTheWire() throws {
        let store = Self.store(keys: 3, prefix: "k")
        let backup = GroupBackup(
            group: GroupID(3), clusterID: 0xabc, clusterGroups: nil, revision: store.revision, appliedIndex: 12,
            store: store.snapshot())
        let frame = ClientResponse(requestID: 7, outcome: .backup(backup)).frame
        #expect(try ClientResponse(decoding: frame) == ClientResponse(requestID: 7, outcome: .backup(backup)))
        var truncated = frame
        truncated.payload.removeLast()
        #expect(throws: WireError.self) { try ClientResponse(decoding: truncated) }
        let request = ClientRequest(requestID: 8, group: GroupID(3), operation: .backup)
        #expect(try ClientRequest(decoding: request.frame) == request)
    }

    @Test(
        "restore writes each group as a snapshot of the new members, drops the old cluster's added members, refuses a used directory"
    )
    func restoreWritesSnapshots() throws {
        var clusterStore = Self.store(keys: 3, prefix: "k")
        _ = clusterStore.apply(
            .put(PutRequest(key: Array("\u{0}quorum/members/4".utf8), value: Array("10.0.0.4:1:2".utf8))))
        let one = try BackupFile.Group(
            GroupBackup(
                group: GroupID(1), clusterID: 9, clusterGroups: 1, revision: clusterStore.revision, appliedIndex: 30,
                store: clusterStore.snapshot()))
        let backup = try BackupFile(
            takenAt: 5, clusterID: 9, clusterGroups: 1, groups: [one, try Self.group(2, keys: 4)])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quorum-restore-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let members = try ServerConfiguration.parseMembers("1=127.0.0.1:1:2,2=127.0.0.1:3:4,3=127.0.0.1:5:6")
        let path = root.appendingPathComponent("n2").path
        let outcome = try ClusterRestore.restore(backup, into: path, node: NodeID(2), members: members)
        #expect(outcome.groups == 2 && outcome.clusterID != 9)
        #expect(!FileManager.default.fileExists(atPath: path + ".restoring"))

        let storage = try NodeLogStorage(path: path)
        defer { storage.close() }
        #expect(storage.recoveredGroups == [GroupID(1), GroupID(2)])
        for group in backup.groups {
            let recovered = try storage.openGroup(group.group, onDurable: { _ in }).recovered
            let snapshot = try #require(recovered.snapshot)
            #expect(snapshot.lastIncludedIndex == group.appliedIndex)
            #expect(snapshot.configuration.voters == [NodeID(1), NodeID(2), NodeID(3)])
            #expect(recovered.hardState.commitIndex == group.appliedIndex && recovered.entries.isEmpty)
            let store = try KeyValueStore(restoringFrom: snapshot.data)
            #expect(try store.range(.prefix(Array("\u{0}quorum/".utf8))).kvs.isEmpty)
            #expect(UInt64(store.liveKeyCount) == group.keyCount)
        }
        #expect(throws: BackupFileError.self, "a directory that holds files") {
            try ClusterRestore.restore(backup, into: path, node: NodeID(2), members: members)
        }
        let file = root.appendingPathComponent("a-file").path
        #expect(FileManager.default.createFile(atPath: file, contents: Data("keep me".utf8)))
        #expect(throws: BackupFileError.self, "a path that is a file") {
            try ClusterRestore.restore(backup, into: file, node: NodeID(2), members: members)
        }
        #expect(FileManager.default.contents(atPath: file) == Data("keep me".utf8))
        #expect(throws: BackupFileError.self, "a node that is not among the members") {
            try ClusterRestore.restore(
                backup, into: root.appendingPathComponent("n9").path, node: NodeID(9), members: members)
        }
    }
}
