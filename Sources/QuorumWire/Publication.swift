import QuorumCodec

/// A Redis `PUBLISH` passed from the node that received it to every other node, whose subscribers then get it. Not
/// replicated and not acknowledged: delivery is at most once, as in Redis Cluster, where a publication travels over
/// the cluster bus.
///
///     version u8 = 1 | sharded u8 (0 or 1) | channel length u32 | channel | message length u32 | message
public struct Publication: Hashable, Sendable {
    public var channel: [UInt8]
    public var message: [UInt8]
    /// Published with SPUBLISH, for SSUBSCRIBE's subscribers; otherwise with PUBLISH.
    public var sharded: Bool

    public init(channel: [UInt8], message: [UInt8], sharded: Bool = false) {
        self.channel = channel
        self.message = message
        self.sharded = sharded
    }

    public var frame: Frame {
        var writer = ByteWriter(capacity: 10 + channel.count + message.count)
        writer.write(UInt8(1))
        writer.write(UInt8(sharded ? 1 : 0))
        writer.write(UInt32(channel.count))
        writer.write(contentsOf: channel)
        writer.write(UInt32(message.count))
        writer.write(contentsOf: message)
        return Frame(kind: .publication, payload: writer.bytes)
    }

    public init(decoding frame: Frame) throws(WireError) {
        guard frame.kind == .publication else { throw .malformed("expected a publication, got \(frame.kind)") }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("publication version")
            guard version == 1 else { throw .unsupportedVersion(what: "publication", version: version) }
            sharded = try reader.readBool("sharded")
            channel = try reader.readBytes(count: UInt64(try reader.read(UInt32.self, "channel length")), "channel")
            message = try reader.readBytes(count: UInt64(try reader.read(UInt32.self, "message length")), "message")
            try reader.expectEnd(of: "publication")
        } catch {
            throw .malformed(error.description)
        }
    }
}
