import Testing

@testable import QuorumStorage

@Suite("Data directory")
struct DataDirectoryTests {
    @Test("a new directory gets a VERSION file and can be reopened after close")
    func createAndReopen() throws {
        try withTemporaryDirectory { root in
            let path = root + "/data"
            let first = try DataDirectory(path: path)
            first.close()
            #expect(String(decoding: try readBytes(path + "/VERSION"), as: UTF8.self) == "2\n")
            let second = try DataDirectory(path: path)
            second.close()
        }
    }

    @Test("a second opener gets a clear error naming the directory")
    func lockHeld() throws {
        try withTemporaryDirectory { root in
            let path = root + "/data"
            let holder = try DataDirectory(path: path)
            defer { holder.close() }
            let error = expectStorageError { try DataDirectory(path: path) }
            #expect(error?.code == .directoryLocked)
            #expect(error?.message.contains(path) == true)
            #expect(error?.message.contains("in use by another process") == true)
        }
    }

    @Test("an unknown format version is refused with a message naming the version found")
    func unknownVersion() throws {
        try withTemporaryDirectory { root in
            let path = root + "/data"
            try DataDirectory(path: path).close()
            try writeBytes(Array("7\n".utf8), to: path + "/VERSION")
            let error = expectStorageError { try DataDirectory(path: path) }
            #expect(error?.code == .unsupportedFormatVersion)
            #expect(error?.message.contains("format version 7") == true)
            // The refusal released the lock: fixing the version makes the directory usable again.
            try writeBytes(Array("2\n".utf8), to: path + "/VERSION")
            try DataDirectory(path: path).close()
        }
    }

    @Test("an unreadable VERSION and data without a VERSION are refused")
    func missingOrGarbledVersion() throws {
        try withTemporaryDirectory { root in
            let path = root + "/data"
            try DataDirectory(path: path).close()
            try writeBytes(Array("banana".utf8), to: path + "/VERSION")
            #expect(expectStorageError { try DataDirectory(path: path) }?.message.contains("\"banana\"") == true)
            try removeFile(path + "/VERSION")
            #expect(expectStorageError { try DataDirectory(path: path) }?.code == .unsupportedFormatVersion)
        }
    }

    @Test("a directory of the earlier single-group format is refused, saying what it is and what to do")
    func formatOneRefused() throws {
        try withTemporaryDirectory { root in
            let path = root + "/data"
            try DataDirectory(path: path).close()
            try writeBytes(Array("1\n".utf8), to: path + "/VERSION")
            let error = expectStorageError { try DataDirectory(path: path) }
            #expect(error?.code == .unsupportedFormatVersion)
            #expect(error?.message.contains("format version 1") == true)
            #expect(error?.message.contains("re-add the node to its cluster") == true)
            #expect(error?.message.contains("earlier quorum build") == true)
        }
    }

    @Test("a data directory laid out one directory per group by an earlier build is refused")
    func perGroupLayoutRefused() throws {
        try withTemporaryDirectory { root in
            // What an earlier `quorum server` left: <data dir>/group-1/ with its own VERSION, log and snapshots.
            try makeDirectory(root + "/group-1/wal")
            try writeBytes(Array("1\n".utf8), to: root + "/group-1/VERSION")
            let error = expectStorageError { try DataDirectory(path: root) }
            #expect(error?.code == .unsupportedFormatVersion)
            #expect(error?.path == root + "/group-1")
            #expect(error?.message.contains("per-group layout of an earlier quorum build") == true)
            #expect(error?.message.contains("Start this build on a new data directory") == true)
            // Nothing was written into the refused directory, and its lock was released.
            #expect(fileStatus(root + "/VERSION") == nil)
            #expect(expectStorageError { try NodeLogStorage(path: root) }?.code == .unsupportedFormatVersion)
        }
    }
}

@Test("the parent directory of a path, one-character names included", arguments: [
    ("d", ""), ("data", ""), ("a/b", "a"), ("a/b/", "a"), ("/x", "/"), ("/", "/"), ("./d", "."), ("/var/lib/q", "/var/lib"),
])
func parentDirectoryOfPath(path: String, parent: String) {
    #expect(parentDirectory(of: path) == parent)
}
