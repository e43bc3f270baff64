import NIOCore
import QuorumBalancing

/// Counts the bytes that cross a connection to an instance, first in its pipeline so that it sees the wire.
final class ByteCounter: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let routing: any ProxyRouting
    private let backend: BackendID

    init(routing: any ProxyRouting, backend: BackendID) {
        self.routing = routing
        self.backend = backend
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        routing.recordBytes(sent: 0, received: unwrapInboundIn(data).readableBytes, on: backend)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        routing.recordBytes(sent: unwrapOutboundIn(data).readableBytes, received: 0, on: backend)
        context.write(data, promise: promise)
    }
}
