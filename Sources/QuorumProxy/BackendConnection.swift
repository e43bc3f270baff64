import NIOCore
import QuorumBalancing
import QuorumWire

/// Whoever waits for the response on a backend connection: the client connection whose request it carries.
protocol ResponseReceiver: AnyObject {
    /// A 1xx response ahead of the final one (100 Continue, 103 Early Hints).
    func interimResponse(_ head: HTTPMessageHead)
    func responseHead(_ head: HTTPMessageHead)
    /// Body bytes as the instance sent them, framing included.
    func responseBody(_ bytes: ByteBuffer)
    func responseEnd()
    /// The end of one read from the instance: what was written so far should go out.
    func flushResponse()
    /// The connection ended, failed, or sent something other than HTTP before the response's end.
    func backendClosed()
    /// The connection can take more of the request body, or cannot for now.
    func backendWritabilityChanged()
}

/// One keep-alive HTTP/1.1 connection to an instance, the only handler in its pipeline. It frames the responses
/// without parsing them further (`HTTPMessageFramer`), carries one exchange at a time, and counts the bytes that
/// cross it.
final class BackendConnection: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: used only on its channel's loop, its `ProxyState`'s loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let channel: any Channel
    private let routing: any ProxyRouting
    private let backend: BackendID
    private var context: ChannelHandlerContext?
    /// Set for the length of one exchange.
    private var receiver: (any ResponseReceiver)?
    private var framer = HTTPMessageFramer(role: .response)
    /// Bytes read and not yet framed.
    private var unread = UnreadBytes()
    /// Whether the last response let the connection carry another request.
    private(set) var keepAlive = true
    private var reading = ReadingSwitch()
    /// Between a 1xx head and its end, which is not the exchange's.
    private var inInterimResponse = false
    private var isClosing = false

    init(channel: any Channel, routing: any ProxyRouting, backend: BackendID) {
        self.channel = channel
        self.routing = routing
        self.backend = backend
    }

    var isActive: Bool { channel.isActive }
    var isWritable: Bool { channel.isWritable }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Starts an exchange: the next response goes to `receiver`, framed knowing whether it answers HEAD.
    func begin(for receiver: any ResponseReceiver, respondingToHEAD: Bool) {
        self.receiver = receiver
        framer.respondingToHEAD = respondingToHEAD
    }

    /// Ends an exchange early: the client left, so whatever the instance still sends is nobody's.
    func abandon() { receiver = nil }

    func send(_ bytes: ByteBuffer) {
        guard let context else { return }
        routing.recordBytes(sent: bytes.readableBytes, received: 0, on: backend)
        context.write(wrapOutboundOut(bytes), promise: nil)
    }

    func flush() { context?.flush() }

    func close() { channel.close(promise: nil) }

    /// Stops and restarts reading the response while the client cannot take more: the proxy holds no more of a
    /// large response than the two sockets' buffers.
    func pauseReading() { reading.set(paused: true, on: channel) }
    func resumeReading() { reading.set(paused: false, on: channel) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        routing.recordBytes(sent: 0, received: bytes.readableBytes, on: backend)
        var buffer = unread.take(appending: bytes)
        defer { unread.keep(buffer) }
        do {
            while !isClosing, let event = try framer.next(&buffer) { deliver(event) }
        } catch {
            closeOnError()
        }
    }

    private func deliver(_ event: HTTPMessageFramer.Event) {
        switch event {
        case .head(let head):
            guard let receiver, head.statusCode != 101 else {
                // Nothing was asked, or a protocol switch nobody asked for: Upgrade is never forwarded.
                closeOnError()
                return
            }
            if head.statusCode < 200 {
                inInterimResponse = true
                receiver.interimResponse(head)
            } else {
                keepAlive = head.keepAlive
                receiver.responseHead(head)
            }
        case .body(let bytes):
            receiver?.responseBody(bytes)
        case .end:
            if inInterimResponse {
                inInterimResponse = false
            } else {
                endExchange()
            }
        }
    }

    /// The exchange is over before its receiver hears so, so that it may hand the connection back at once.
    private func endExchange() {
        let receiver = self.receiver
        self.receiver = nil
        receiver?.responseEnd()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.flushResponse()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        receiver?.backendWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepAlive = false
        // A response that runs until close ends here; anything else cut short is a failure.
        if (try? framer.finish(unread: unread.count)) != nil {
            endExchange()
        } else {
            let receiver = self.receiver
            self.receiver = nil
            receiver?.backendClosed()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeOnError()
    }

    /// The instance sent something other than the HTTP asked for, or the connection failed: whatever else it sent
    /// is not read.
    private func closeOnError() {
        isClosing = true
        channel.close(promise: nil)
    }
}
