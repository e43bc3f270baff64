#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The seam through which storage writes and syncs files. Production uses `PosixFileIO`; tests inject one that
/// fails (a full disk, an I/O error) at a chosen byte, which a real disk cannot be made to do on demand.
public protocol FileIO: Sendable {
    /// Writes all of `bytes` at the descriptor's current offset, or throws. A throw may follow a partial write.
    func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError)
    /// Makes the file's data (and the metadata needed to read it, such as its size) durable: fdatasync.
    func synchronizeData(of descriptor: Int32) throws(SystemCallError)
    /// Makes a file or directory and all its metadata durable: fsync. Used for directories after a create,
    /// rename or remove.
    func synchronize(_ descriptor: Int32) throws(SystemCallError)
}

/// The real thing: write(2) in a loop, fdatasync(2), fsync(2).
public struct PosixFileIO: FileIO {
    public init() {}

    public func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
        var written = 0
        while written < bytes.count {
            let result = systemWrite(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw .lastError("write")
            }
            written += result
        }
    }

    public func synchronizeData(of descriptor: Int32) throws(SystemCallError) {
        #if canImport(Glibc)
            let result = fdatasync(descriptor)
        #else
            let result = fsync(descriptor)
        #endif
        if result != 0 { throw .lastError("fdatasync") }
    }

    public func synchronize(_ descriptor: Int32) throws(SystemCallError) {
        if fsync(descriptor) != 0 { throw .lastError("fsync") }
    }
}

extension FileIO {
    /// Writes a whole array; see `write(_:to:)`.
    func write(_ bytes: [UInt8], to descriptor: Int32) throws(SystemCallError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(SystemCallError) in try write(raw, to: descriptor) }
        }
        try result.get()
    }
}
