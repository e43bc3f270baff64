import NIOCore

/// Cuts frames out of a connection's byte stream. The header is checked (magic, version, kind, length against the
/// limit) before the payload is buffered, so a hostile length costs nothing; any refusal closes this connection.
///
/// With a budget, the bytes of a frame still arriving count against it, and a frame that would pass it closes its
/// connection (`UnfinishedFrameBudget`).
public struct FrameDecodingHandler: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    let decoder: FrameDecoder
    let budget: UnfinishedFrameBudget?
    /// What this connection holds of `budget` now.
    private var held = 0
    /// Set once this connection passed the budget: it is being closed, and is refused (and counted) only once.
    private var overBudget = false

    public init(decoder: FrameDecoder, budget: UnfinishedFrameBudget? = nil) {
        self.decoder = decoder
        self.budget = budget
    }

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
        else {
            try hold(buffer.readableBytes)
            return .needMoreData
        }
        try hold(0)
        guard case .frame(let frame, _) = try decoder.decode(bytes) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    /// Accounts for holding `count` bytes of an unfinished frame (0 once it is complete).
    private mutating func hold(_ count: Int) throws {
        guard let budget, count != held else { return }
        if count > held {
            guard !overBudget, budget.take(count - held) else {
                // Given back at once, not when the closing connection is removed, so no other connection is refused
                // for bytes about to be dropped.
                overBudget = true
                budget.give(held)
                held = 0
                throw WireError.malformed(
                    "the node holds \(budget.bytesMax) bytes of unfinished requests already; send whole frames")
            }
        } else {
            budget.give(held - count)
        }
        held = count
    }

    public mutating func decoderRemoved(context: ChannelHandlerContext) {
        budget?.give(held)
        held = 0
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        if overBudget { return .needMoreData }
        return try decode(context: context, buffer: &buffer)
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
    /// Frames in both directions, then `handler`; unfinished frames held against `budget`, if given.
    public func addFrameHandlers(
        frameBytesMax: Int, budget: UnfinishedFrameBudget? = nil, then handler: some ChannelHandler
    ) throws {
        try addHandler(
            ByteToMessageHandler(
                FrameDecodingHandler(decoder: FrameDecoder(frameBytesMax: frameBytesMax), budget: budget)))
        try addHandler(MessageToByteHandler(FrameEncodingHandler()))
        try addHandler(handler)
    }
}
