import QuorumCodec

/// Cuts frames out of a byte stream. Pure: the NIO handler feeds it bytes and acts on what it returns, so every
/// path is testable (and fuzzable) without a socket.
public struct FrameDecoder: Sendable {
    /// Frames longer than this are refused before their payload is read (etcd's default request limit is
    /// 1.5 MiB; peers also carry batches of entries and snapshots, hence the larger default).
    public let frameBytesMax: Int

    public init(frameBytesMax: Int = 16 << 20) {
        precondition(frameBytesMax > 0, "the frame limit must be positive")
        self.frameBytesMax = frameBytesMax
    }

    public enum Outcome: Hashable, Sendable {
        /// A whole frame, and how many bytes of the input it used.
        case frame(Frame, consumed: Int)
        /// The input holds only part of a frame; call again with more.
        case needMoreData
    }

    /// Decodes the first frame of `bytes`. Throws for input no correct sender produces; the connection that sent
    /// it should be closed, and nothing else is affected.
    public func decode(_ bytes: [UInt8]) throws(WireError) -> Outcome {
        guard bytes.count >= Frame.headerBytes else { return .needMoreData }
        func littleEndian(at offset: Int, count: Int) -> UInt64 {
            (0..<count).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
        }
        let magic = UInt16(littleEndian(at: 0, count: 2))
        guard magic == Frame.magic else { throw .badMagic(magic) }
        guard bytes[2] == Frame.version else { throw .unsupportedVersion(bytes[2]) }
        guard let kind = FrameKind(rawValue: bytes[3]) else { throw .unknownFrameKind(bytes[3]) }
        let length = Int(littleEndian(at: 4, count: 4))
        guard length <= frameBytesMax else { throw .frameTooLarge(bytes: length, limit: frameBytesMax) }
        let checksum = UInt32(littleEndian(at: 8, count: 4))
        guard bytes.count >= Frame.headerBytes + length else { return .needMoreData }
        let payload = Array(bytes[Frame.headerBytes..<(Frame.headerBytes + length)])
        let actual = CRC32C.checksum(payload)
        guard actual == checksum else { throw .checksumMismatch(expected: checksum, actual: actual) }
        return .frame(Frame(kind: kind, payload: payload), consumed: Frame.headerBytes + length)
    }
}
