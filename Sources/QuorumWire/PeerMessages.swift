import QuorumCodec
import QuorumConsensus

/// A batch of consensus messages for one group, as one `.peerMessages` frame carries it. Every message names its
/// group, so one connection between two nodes serves all the groups they share.
///
///     version u8 = 1 | group u64 | count u32 | messages…
///     message: from u64 | to u64 | term u64 | payload tag u8 | payload fields
public struct PeerMessages: Hashable, Sendable {
    public var group: GroupID
    public var messages: [Message]

    public init(group: GroupID, messages: [Message]) {
        self.group = group
        self.messages = messages
    }

    static let encodingVersion: UInt8 = 1

    public var frame: Frame {
        var writer = ByteWriter(capacity: 16 + messages.reduce(0) { $0 + $1.sizeInBytes })
        writer.write(PeerMessages.encodingVersion)
        writer.write(group.rawValue)
        writer.write(UInt32(messages.count))
        for message in messages { message.encode(into: &writer) }
        return Frame(kind: .peerMessages, payload: writer.bytes)
    }

    public init(decoding frame: Frame) throws(WireError) {
        guard frame.kind == .peerMessages else { throw .malformed("expected peer messages, got \(frame.kind)") }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("peer messages version")
            guard version == PeerMessages.encodingVersion else {
                throw .unsupportedVersion(what: "peer messages", version: version)
            }
            group = GroupID(try reader.read(UInt64.self, "group"))
            let count = try reader.readCount("message count", minimumItemBytes: 25)
            messages = []
            messages.reserveCapacity(count)
            for _ in 0..<count { messages.append(try Message.decode(from: &reader)) }
            try reader.expectEnd(of: "peer messages")
        } catch {
            throw .malformed(error.description)
        }
    }
}

/// The first frame on a peer connection: the caller's node id, so that answers find their way back.
public struct PeerHello: Hashable, Sendable {
    public var node: NodeID

    public init(node: NodeID) { self.node = node }

    public var frame: Frame {
        var writer = ByteWriter(capacity: 9)
        writer.write(UInt8(1))
        writer.write(node.rawValue)
        return Frame(kind: .peerHello, payload: writer.bytes)
    }

    public init(decoding frame: Frame) throws(WireError) {
        guard frame.kind == .peerHello else { throw .malformed("expected a hello, got \(frame.kind)") }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("hello version")
            guard version == 1 else { throw .unsupportedVersion(what: "hello", version: version) }
            node = try reader.readNodeID("hello node")
            try reader.expectEnd(of: "hello")
        } catch {
            throw .malformed(error.description)
        }
    }
}
