import NIOCore

/// Writes RESP values to a channel in the connection's protocol version (2 unless the connection said HELLO 3).
public struct RESPEncoder: MessageToByteEncoder {
    public typealias OutboundIn = RESPValue

    public var protocolVersion: Int

    public init(protocolVersion: Int = 2) { self.protocolVersion = protocolVersion }

    public func encode(data: RESPValue, out: inout ByteBuffer) throws {
        data.write(to: &out, protocolVersion: protocolVersion)
    }
}
