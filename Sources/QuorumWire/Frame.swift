import QuorumCodec

/// One unit on a Quorum connection, peers and clients alike:
///
///     magic u16 = 0x5155 ("QU") | version u8 = 1 | kind u8 | length u32 | crc32c u32 | payload (length bytes)
///
/// The length is checked against the receiver's limit before anything is allocated, and the checksum before the
/// payload is decoded, so a corrupt or hostile frame costs at most its header.
public struct Frame: Hashable, Sendable {
    public var kind: FrameKind
    public var payload: [UInt8]

    public init(kind: FrameKind, payload: [UInt8]) {
        self.kind = kind
        self.payload = payload
    }

    public static let magic: UInt16 = 0x5155
    public static let version: UInt8 = 1
    public static let headerBytes = 12

    /// The frame as it goes on the wire.
    public var encoded: [UInt8] { header + payload }

    /// The header that goes before the payload on the wire.
    public var header: [UInt8] {
        var writer = ByteWriter(capacity: Frame.headerBytes)
        writer.write(Frame.magic)
        writer.write(Frame.version)
        writer.write(kind.rawValue)
        writer.write(UInt32(payload.count))
        writer.write(CRC32C.checksum(payload))
        return writer.bytes
    }
}

/// What a frame carries. Unknown kinds are refused, never guessed at.
public enum FrameKind: UInt8, Hashable, Sendable, CaseIterable {
    /// First frame on a peer connection: who is calling.
    case peerHello = 1
    /// A batch of consensus messages for one group.
    case peerMessages = 2
    case clientRequest = 3
    case clientResponse = 4
    /// A leader telling a node that it is no longer a member (`MembershipNotice`).
    case membershipNotice = 5
    /// One part of a frame too large for the receiver's limit (`FrameParts`).
    case part = 6
    /// A node asking a group's leader to confirm a removal notice (`MembershipQuery`).
    case membershipQuery = 7
    /// A Redis publication for the subscribers on the receiving node (`Publication`).
    case publication = 8
}
