import NIOCore

/// Cuts frames out of a connection's byte stream. The header is checked (magic, version, kind, length against the
/// limit) before the payload is buffered, so a hostile length costs nothing; any refusal closes this connection.
public struct FrameDecodingHandler: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    let decoder: FrameDecoder

    public init(decoder: FrameDecoder) { self.decoder = decoder }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= Frame.headerBytes,
            let header = buffer.getBytes(at: buffer.readerIndex, length: Frame.headerBytes)
        else { return .needMoreData }
        let length: Int
        switch try decoder.decode(header) {
        case .frame(let frame, _):
            buffer.moveReaderIndex(forwardBy: Frame.headerBytes)
            context.fireChannelRead(wrapInboundOut(frame))
            return .continue
        case .needMoreData:
            length = Int(header[4]) | Int(header[5]) << 8 | Int(header[6]) << 16 | Int(header[7]) << 24
        }
        guard buffer.readableBytes >= Frame.headerBytes + length,
            let bytes = buffer.readBytes(length: Frame.headerBytes + length)
        else { return .needMoreData }
        guard case .frame(let frame, _) = try decoder.decode(bytes) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }
}

public struct FrameEncodingHandler: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public init() {}

    /// Header and payload straight into the buffer: a large frame (a backup's parts) is copied once, not twice.
    public func encode(data: Frame, out: inout ByteBuffer) throws {
        out.reserveCapacity(minimumWritableBytes: Frame.headerBytes + data.payload.count)
        out.writeBytes(data.header)
        out.writeBytes(data.payload)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Frames in both directions, then `handler`.
    public func addFrameHandlers(frameBytesMax: Int, then handler: some ChannelHandler) throws {
        try addHandler(ByteToMessageHandler(FrameDecodingHandler(decoder: FrameDecoder(frameBytesMax: frameBytesMax))))
        try addHandler(MessageToByteHandler(FrameEncodingHandler()))
        try addHandler(handler)
    }
}
