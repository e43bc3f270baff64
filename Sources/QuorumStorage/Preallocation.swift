#if canImport(Glibc)
    import Glibc
#endif

/// Reserves disk blocks for a segment before it is written, without changing its size.
///
/// `fallocate(2)` with `FALLOC_FL_KEEP_SIZE`: the blocks are allocated up front (so a full disk shows up when a
/// segment is created, not in the middle of a group commit, and the segment is not fragmented), while the file
/// size still grows only as records are written, so recovery never sees a preallocated tail of zeros.
/// Glibc declares `fallocate` only under `_GNU_SOURCE`, which Swift's Glibc module does not set, so it is looked
/// up at run time. Where it is missing or the file system does not support it, nothing is reserved.
enum Preallocation {
    private typealias Fallocate = @convention(c) (Int32, Int32, Int, Int) -> Int32
    private static let keepSize: Int32 = 0x01  // FALLOC_FL_KEEP_SIZE, linux/falloc.h

    #if canImport(Glibc)
        private static let fallocate: Fallocate? = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fallocate") else { return nil }
            return unsafeBitCast(symbol, to: Fallocate.self)
        }()
    #endif

    /// Reserves `bytes` for `descriptor`. Throws only for real failures (a full disk); unsupported is fine.
    static func reserve(_ bytes: Int, for descriptor: Int32) throws(SystemCallError) {
        #if canImport(Glibc)
            guard let fallocate else { return }
            while fallocate(descriptor, keepSize, 0, bytes) != 0 {
                switch errno {
                case EINTR: continue
                case EOPNOTSUPP, ENOSYS: return
                default: throw .lastError("fallocate")
                }
            }
        #endif
    }
}
