import NIOCore
import NIOHTTP1

/// Whoever waits for the response on a backend connection: the client connection whose request it carries.
protocol ResponseReceiver: AnyObject {
    func responsePart(_ part: HTTPClientResponsePart)
    /// The end of one read from the instance: what was written so far should go out.
    func flushResponse()
    /// The connection ended or failed before the response's end.
    func backendClosed()
}

/// One keep-alive HTTP connection to an instance, last in its pipeline. It carries one exchange at a time and hands
/// the response to that exchange's receiver.
final class BackendConnection: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: used only on its channel's loop, its `ProxyState`'s loop.
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let channel: any Channel
    private var context: ChannelHandlerContext?
    /// Set for the length of one exchange.
    var receiver: (any ResponseReceiver)?
    /// Whether the last response let the connection carry another request.
    private(set) var keepAlive = true

    init(channel: any Channel) { self.channel = channel }

    var isActive: Bool { channel.isActive }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func send(_ parts: some Sequence<HTTPClientRequestPart>, flush: Bool) {
        guard let context else { return }
        for part in parts { context.write(wrapOutboundOut(part), promise: nil) }
        if flush { context.flush() }
    }

    func flush() { context?.flush() }

    func close() { channel.close(promise: nil) }

    /// Stops and restarts reading the response, while the client cannot take more: the proxy holds no more of a
    /// large response than the two sockets' buffers.
    func pauseReading() { channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    func resumeReading() { channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            keepAlive = head.isKeepAlive
            receiver?.responsePart(part)
        case .body:
            receiver?.responsePart(part)
        case .end:
            // The exchange is over before its receiver hears so, so that it may hand the connection back at once.
            let receiver = self.receiver
            self.receiver = nil
            receiver?.responsePart(part)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.flushResponse()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepAlive = false
        let receiver = self.receiver
        self.receiver = nil
        receiver?.backendClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
