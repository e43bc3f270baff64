import NIOCore

/// Bytes read from a connection and not yet framed, kept from one read to the next, for a framer that consumes
/// what it can (`HTTPMessageFramer`).
public struct UnreadBytes: Sendable {
    private var pending: ByteBuffer?

    public init() {}

    /// What is left of earlier reads with `bytes` after it: in the usual case, where nothing is left, `bytes`
    /// itself, uncopied. Hand back what the framer leaves with `keep`.
    public mutating func take(appending bytes: ByteBuffer) -> ByteBuffer {
        guard var earlier = pending else { return bytes }
        pending = nil
        earlier.writeImmutableBuffer(bytes)
        return earlier
    }

    /// Everything left of earlier reads, if anything is.
    public mutating func takeAll() -> ByteBuffer? {
        defer { pending = nil }
        return pending
    }

    public mutating func keep(_ buffer: ByteBuffer) {
        pending = buffer.readableBytes > 0 ? buffer : nil
    }

    public var count: Int { pending?.readableBytes ?? 0 }
}
