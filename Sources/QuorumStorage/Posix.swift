#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The few file-system calls storage makes directly (opening, reading, renaming, removing); writes and syncs go
/// through `FileIO` so that tests can make them fail.
enum Posix {
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(SystemCallError) -> Int32 {
        while true {
            let descriptor = systemOpen(path, flags | O_CLOEXEC, mode)
            if descriptor >= 0 { return descriptor }
            if errno != EINTR { throw .lastError("open") }
        }
    }

    static func close(_ descriptor: Int32) {
        // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
        _ = systemClose(descriptor)
    }

    static func fileSize(_ descriptor: Int32) throws(SystemCallError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .lastError("fstat") }
        return Int(status.st_size)
    }

    /// Reads a whole file. The size comes from fstat, so this allocates what is on disk, never what a record
    /// claims.
    static func readFile(_ path: String) throws(SystemCallError) -> [UInt8] {
        let descriptor = try open(path, O_RDONLY)
        defer { close(descriptor) }
        let size = try fileSize(descriptor)
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        var failure: SystemCallError?
        bytes.withUnsafeMutableBytes { buffer in
            while filled < size {
                let result = read(descriptor, buffer.baseAddress! + filled, size - filled)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = .lastError("read")
                    return
                }
                if result == 0 { break }
                filled += result
            }
        }
        if let failure { throw failure }
        // The file shrank while reading: keep what was read.
        if filled < size { bytes.removeLast(size - filled) }
        return bytes
    }

    static func truncate(_ descriptor: Int32, to length: Int) throws(SystemCallError) {
        if ftruncate(descriptor, off_t(length)) != 0 { throw .lastError("ftruncate") }
    }

    static func seekToEnd(_ descriptor: Int32) throws(SystemCallError) -> Int {
        let offset = lseek(descriptor, 0, SEEK_END)
        if offset < 0 { throw .lastError("lseek") }
        return Int(offset)
    }

    static func rename(_ source: String, _ target: String) throws(SystemCallError) {
        if systemRename(source, target) != 0 { throw .lastError("rename") }
    }

    static func remove(_ path: String) throws(SystemCallError) {
        if unlink(path) != 0 && errno != ENOENT { throw .lastError("unlink") }
    }

    /// Removes a file, or a directory and everything in it. A path that does not exist is not an error.
    static func removeTree(_ path: String) throws(SystemCallError) {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw .lastError("lstat")
        }
        guard status.st_mode & S_IFMT == S_IFDIR else { return try remove(path) }
        for name in try listDirectory(path) { try removeTree(path + "/" + name) }
        if rmdir(path) != 0 && errno != ENOENT { throw .lastError("rmdir") }
    }

    static func makeDirectory(_ path: String) throws(SystemCallError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw .lastError("mkdir") }
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0
    }

    /// Names in a directory, without "." and "..", sorted.
    static func listDirectory(_ path: String) throws(SystemCallError) -> [String] {
        guard let directory = opendir(path) else { throw .lastError("opendir") }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// fsyncs a directory so that creates, renames and removes inside it survive a crash.
    static func synchronizeDirectory(_ path: String, io: any FileIO) throws(SystemCallError) {
        let descriptor = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(descriptor) }
        try io.synchronize(descriptor)
    }

    /// Writes a small file atomically and durably: temp file, fsync, rename, directory fsync.
    static func writeFileAtomically(
        _ bytes: [UInt8], to path: String, directory: String, io: any FileIO
    ) throws(SystemCallError) {
        let temporary = path + ".tmp"
        let descriptor = try open(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        do throws(SystemCallError) {
            try io.write(bytes, to: descriptor)
            try io.synchronize(descriptor)
        } catch {
            close(descriptor)
            try? remove(temporary)
            throw error
        }
        close(descriptor)
        try rename(temporary, path)
        try synchronizeDirectory(directory, io: io)
    }
}
