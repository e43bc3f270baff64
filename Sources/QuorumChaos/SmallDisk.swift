import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A small file system of its own (tmpfs) mounted at a node's data directory, so that a chaos run can fill that
/// node's disk, and only that node's, and free it again. Mounting needs root (CAP_SYS_ADMIN); a machine that does
/// not allow it runs chaos without `diskFull` faults and says why.
struct SmallDisk: Sendable {
    let path: URL

    /// Room for the log's spare segment, which is reserved whole, for the space a node needs free before it reopens
    /// its storage after a full disk, and for an hour's data.
    static let bytes = 512 << 20

    /// Mounts a new small file system at `path`, which must be an empty directory or not exist.
    static func mount(at path: URL) throws -> SmallDisk {
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path.path])
        return SmallDisk(path: path)
    }

    /// Why this machine cannot mount a small file system, or nil if it can: tries one in a temporary directory.
    static let unavailableReason: String? = {
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent(
            "quorum-small-disk-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: probe) }
        do {
            try mount(at: probe).unmount()
            return nil
        } catch {
            return "mounting a small file system (tmpfs) for each node needs root: \(error)"
        }
    }()

    private var filler: URL { path.appendingPathComponent("chaos-filler") }

    /// Writes a file until the file system has no byte left.
    func fill() throws {
        let descriptor = open(filler.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        while chunk.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        guard errno == ENOSPC else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    func free() { try? FileManager.default.removeItem(at: filler) }

    /// Unmounts it, copying what it holds to `keptAt` first when given (a failed run keeps its nodes' data).
    func unmount(keepingAt keptAt: URL? = nil) throws {
        free()
        if let keptAt { try FileManager.default.copyItem(at: path, to: keptAt) }
        try Self.run("/bin/umount", [path.path])
    }

    struct CommandFailed: Error, CustomStringConvertible {
        var command: String
        var output: String
        var description: String { "\(command) failed: \(output.trimmingCharacters(in: .whitespacesAndNewlines))" }
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Read before waiting: a command that fills the pipe's buffer would otherwise never exit.
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailed(command: ([executable] + arguments).joined(separator: " "), output: said)
        }
    }
}
