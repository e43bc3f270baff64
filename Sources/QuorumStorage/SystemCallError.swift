#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed system call: which one and its errno. Storage turns it into a `StorageError` naming the file.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    public var function: String
    public var errorNumber: Int32

    public init(_ function: String, errorNumber: Int32) {
        self.function = function
        self.errorNumber = errorNumber
    }

    /// The C library's text for `errorNumber`.
    public var reason: String { String(cString: strerror(errorNumber)) }
    public var description: String { "\(function): \(reason)" }

    /// Whether the call failed because the disk (or the user's quota) is full.
    public var isNoSpace: Bool { errorNumber == ENOSPC || errorNumber == EDQUOT }

    /// Captures the current `errno` after `function` failed.
    static func lastError(_ function: String) -> SystemCallError { SystemCallError(function, errorNumber: errno) }
}
