/// Why bytes from a connection were refused. The connection is closed and logged; nothing else is affected.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    case badMagic(UInt16)
    case unsupportedVersion(UInt8)
    case unknownFrameKind(UInt8)
    case frameTooLarge(bytes: Int, limit: Int)
    case checksumMismatch(expected: UInt32, actual: UInt32)
    /// The frame was intact but its payload did not decode.
    case malformed(String)

    public var description: String {
        switch self {
        case .badMagic(let magic):
            "not a Quorum connection (magic 0x\(String(magic, radix: 16))); check the peer and client ports"
        case .unsupportedVersion(let version): "wire version \(version) is not supported; upgrade the older side"
        case .unknownFrameKind(let kind): "unknown frame kind \(kind)"
        case .frameTooLarge(let bytes, let limit): "frame of \(bytes) bytes exceeds the limit of \(limit)"
        case .checksumMismatch(let expected, let actual):
            "frame checksum mismatch (header 0x\(String(expected, radix: 16)), payload 0x\(String(actual, radix: 16)))"
        case .malformed(let reason): "malformed frame payload: \(reason)"
        }
    }
}
