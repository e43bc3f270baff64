import NIOCore
import QuorumBalancing
import QuorumWire

/// One client connection in HTTP mode, the only handler in its pipeline. It frames requests itself
/// (`HTTPMessageFramer`) and forwards them as the bytes they came in, only their heads rewritten (`ForwardedHead`):
/// each request gets its own pick and a pooled backend connection, the response streams back the same way, and its
/// outcome and latency go to the balancer. Pipelined requests wait, unread, until the response before them is done.
final class HTTPForwardingHandler: ChannelInboundHandler, ResponseReceiver, @unchecked Sendable {
    // @unchecked Sendable: used only on its channel's loop, its `ProxyState`'s loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Tries per request before answering 502 (GET and HEAD only; others get one try). Counted as tries, not as
    /// instances: with one instance, the same one is tried again.
    private static let attemptsMax = 3
    /// Request bytes held for a retry at most; a GET with a larger body gets one try, as other methods do.
    private static let retainedBytesMax = 64 << 10
    /// Request bytes read ahead of what the backend took (a pipelined request, a body awaiting its connection)
    /// beyond which the client is not read until they drain.
    private static let bufferedBytesMax = 256 << 10

    private let state: ProxyState
    private var context: ChannelHandlerContext?
    private var framer = HTTPMessageFramer(role: .request)
    private var unread = UnreadBytes()
    private var exchange: Exchange?
    /// Numbers attempts, so that a connection arriving for an attempt already given up is handed back.
    private var attemptCounter = 0
    private var reading = ReadingSwitch()
    /// Closed or closing: nothing more is read from what the client sent.
    private var isClosing = false
    /// The client's address for X-Forwarded-For, formatted once per connection.
    private lazy var clientAddress = context?.channel.remoteAddress?.ipAddress
    /// Set while a read is being framed: backend writes wait for its end to be flushed together.
    private var isFraming = false
    /// Request bytes were written to the backend connection and not flushed yet.
    private var backendNeedsFlush = false

    /// The request in flight and where it stands. A class, so that updating it copies no buffers.
    private final class Exchange {
        let clientMinorVersion: Int
        let clientKeepAlive: Bool
        let isHEAD: Bool
        /// GET and HEAD may be sent again to another instance if the first never answered.
        var isRetryable: Bool
        /// The forwarded head and the body so far: what the current connection has not had yet, and for a
        /// retryable request everything, so that another connection can have it all.
        var parts: [ByteBuffer]
        var sentCount = 0
        var retainedBytes = 0
        var requestEnded = false
        /// The instance of every try so far, once per try.
        var tried: [BackendID] = []
        var attempt = 0
        var route: Route?
        var pool: BackendPool?
        var connection: BackendConnection?
        var begin = NIODeadline.now()
        /// The final response's status, once its head is on its way to the client.
        var status: Int?
        /// The client connection closes after this response.
        var closesClient = false

        init(head: HTTPMessageHead, forwardedHead: ByteBuffer) {
            clientMinorVersion = head.minorVersion
            clientKeepAlive = head.keepAlive
            isHEAD = head.isMethod("HEAD")
            isRetryable = isHEAD || head.isMethod("GET")
            parts = [forwardedHead]
            retainedBytes = forwardedHead.readableBytes
        }
    }

    init(state: ProxyState) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unread.take(appending: unwrapInboundIn(data))
        frame(&buffer)
    }

    /// Goes on with requests read earlier, once the exchange before them is over.
    private func frameUnread() {
        guard var buffer = unread.takeAll() else { return updateReading() }
        frame(&buffer)
    }

    /// Forwards the requests in `buffer` as far as they may go now, in one flush per backend write.
    private func frame(_ buffer: inout ByteBuffer) {
        isFraming = true
        frameRequests(&buffer)
        isFraming = false
        unread.keep(buffer)
        flushBackend()
        updateReading()
    }

    /// Frames and forwards what `buffer` holds of requests, up to the end of one whose response is not done yet.
    private func frameRequests(_ buffer: inout ByteBuffer) {
        while !isClosing && !(exchange?.requestEnded ?? false) {
            let event: HTTPMessageFramer.Event?
            do {
                event = try framer.next(&buffer)
            } catch {
                refuse(error)
                return
            }
            guard let event else { return }
            switch event {
            case .head(let head):
                guard !head.isMethod("CONNECT") else {
                    respond(status: "501 Not Implemented", message: "CONNECT is not supported", keepAlive: false)
                    return
                }
                exchange = Exchange(
                    head: head,
                    forwardedHead: ForwardedHead.request(
                        head, clientAddress: clientAddress,
                        allocator: context!.channel.allocator))
                dispatch()
            case .body(let bytes):
                guard let exchange else { continue }  // the rest of a body whose response already ended
                exchange.parts.append(bytes)
                exchange.retainedBytes += bytes.readableBytes
                if exchange.retainedBytes > Self.retainedBytesMax { exchange.isRetryable = false }
                sendParts()
            case .end:
                guard let exchange else { continue }
                exchange.requestEnded = true
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client left mid-exchange: the backend connection may be mid-response, so it cannot be reused.
        if let exchange, let route = exchange.route {
            if let connection = exchange.connection {
                connection.abandon()
                exchange.pool?.release(connection, reusable: false)
            }
            state.routing.finished(
                route, latency: state.duration(since: exchange.begin), outcome: .cancelled, now: state.now)
        }
        exchange = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.connection?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close()
    }

    private func close() {
        isClosing = true
        context?.close(promise: nil)
    }

    /// Reads from the client only while the request bytes it sent can go somewhere: the backend takes them, and
    /// what waits for it is bounded. A body still arriving while its request waits for a backend connection (the
    /// pool is full, or connecting) waits in the client's socket, not here.
    private func updateReading() {
        guard let channel = context?.channel else { return }
        let backendFull =
            exchange.map { exchange in
                exchange.connection.map { !$0.isWritable } ?? !exchange.requestEnded
            } ?? false
        let paused = backendFull || unread.count > Self.bufferedBytesMax
        reading.set(paused: paused, on: channel)
    }

    // MARK: To the backend

    /// Picks an instance and asks its pool for a connection.
    private func dispatch() {
        guard let exchange else { return }
        guard let route = state.routing.pick(excluding: exchange.tried, now: state.now) else {
            respondBadGateway()
            return
        }
        attemptCounter += 1
        let attempt = attemptCounter
        let pool = state.pool(for: route)
        exchange.tried.append(route.id)
        exchange.attempt = attempt
        exchange.route = route
        exchange.pool = pool
        exchange.connection = nil
        exchange.sentCount = 0
        exchange.begin = .now()
        pool.acquire { result in
            guard let current = self.exchange, current.attempt == attempt else {
                // The client left while the connection was being found; channelInactive finished the request.
                if case .success(let connection) = result { pool.release(connection, reusable: true) }
                return
            }
            switch result {
            case .success(let connection):
                connection.begin(for: self, respondingToHEAD: current.isHEAD)
                current.connection = connection
                self.sendParts()
                // A connection handed over at once, while a read is being framed, is flushed (and reading
                // resumed) at that read's end.
                if !self.isFraming {
                    self.flushBackend()
                    self.updateReading()
                }
            case .failure:
                self.attemptFailed()
            }
        }
    }

    /// Writes what the connection has not had yet; a request that may be retried keeps its parts for the next try.
    private func sendParts() {
        guard let exchange, let connection = exchange.connection, exchange.sentCount < exchange.parts.count else {
            return
        }
        for part in exchange.parts[exchange.sentCount...] { connection.send(part) }
        backendNeedsFlush = true
        if exchange.isRetryable {
            exchange.sentCount = exchange.parts.count
        } else {
            exchange.parts.removeAll(keepingCapacity: true)
            exchange.sentCount = 0
        }
    }

    private func flushBackend() {
        guard backendNeedsFlush else { return }
        backendNeedsFlush = false
        exchange?.connection?.flush()
    }

    /// The connect failed, or the connection ended before any of the response: a failure for the instance, then
    /// another instance for GET and HEAD, or 502.
    private func attemptFailed() {
        guard let exchange, let route = exchange.route else { return }
        state.routing.finished(route, latency: state.duration(since: exchange.begin), outcome: .failure, now: state.now)
        exchange.route = nil
        exchange.connection = nil
        if exchange.isRetryable && exchange.tried.count < Self.attemptsMax {
            dispatch()
        } else {
            respondBadGateway()
        }
    }

    // MARK: From the backend

    func interimResponse(_ head: HTTPMessageHead) {
        // RFC 9110, 15.2: an HTTP/1.0 client is sent no 1xx response.
        guard let context, let exchange, exchange.clientMinorVersion == 1 else { return }
        context.write(
            wrapOutboundOut(ForwardedHead.response(head, connection: nil, allocator: context.channel.allocator)),
            promise: nil)
    }

    func responseHead(_ head: HTTPMessageHead) {
        guard let context, let exchange else { return }
        exchange.status = head.statusCode
        // A response that runs until close cannot be delimited on a kept connection, and one that came before its
        // request's end leaves the rest of that request unread: either way the client connection ends with it.
        exchange.closesClient = !exchange.clientKeepAlive || head.framing == .untilClose || !exchange.requestEnded
        let connection = exchange.closesClient ? "close" : exchange.clientMinorVersion == 0 ? "keep-alive" : nil
        context.write(
            wrapOutboundOut(ForwardedHead.response(head, connection: connection, allocator: context.channel.allocator)),
            promise: nil)
    }

    func responseBody(_ bytes: ByteBuffer) {
        guard let context, let exchange else { return }
        context.write(wrapOutboundOut(bytes), promise: nil)
        if !context.channel.isWritable { exchange.connection?.pauseReading() }
    }

    func responseEnd() {
        guard let context, let exchange else { return }
        self.exchange = nil
        if let route = exchange.route {
            let failed = (exchange.status ?? 500) >= 500
            state.routing.finished(
                route, latency: state.duration(since: exchange.begin), outcome: failed ? .failure : .success,
                now: state.now)
        }
        if let connection = exchange.connection {
            connection.resumeReading()
            // A connection whose request was not all sent is mid-message and cannot carry another.
            exchange.pool?.release(connection, reusable: connection.keepAlive && exchange.requestEnded)
        }
        if exchange.closesClient {
            closeAfterWrites(context)
        } else {
            context.flush()
            // A pipelined request may be waiting behind this one.
            frameUnread()
        }
    }

    func flushResponse() { context?.flush() }

    func backendClosed() {
        guard let exchange else { return }
        if exchange.status == nil {
            attemptFailed()
        } else {
            // Part of the response is already with the client: the only honest end is to close its connection too.
            if let route = exchange.route {
                state.routing.finished(
                    route, latency: state.duration(since: exchange.begin), outcome: .failure, now: state.now)
            }
            self.exchange = nil
            close()
        }
    }

    func backendWritabilityChanged() { updateReading() }

    // MARK: Answers of the proxy's own

    private func respondBadGateway() {
        guard let exchange else { return }
        self.exchange = nil
        // The rest of a request body still on its way would be read as the next request: close instead.
        respond(
            status: "502 Bad Gateway", message: "no instance of the service could be reached",
            keepAlive: exchange.clientKeepAlive && exchange.requestEnded)
    }

    /// A request that is not HTTP as this proxy reads it: its error, then the connection closes, since where the
    /// next request would begin is unknown. Mid-request, with part of it already forwarded, it just closes.
    private func refuse(_ error: HTTPFramingError) {
        if let exchange {
            self.exchange = nil
            if let connection = exchange.connection {
                connection.abandon()
                exchange.pool?.release(connection, reusable: false)
            }
            if let route = exchange.route {
                state.routing.finished(
                    route, latency: state.duration(since: exchange.begin), outcome: .cancelled, now: state.now)
            }
            close()
            return
        }
        let status =
            switch error.statusCode {
            case 431: "431 Request Header Fields Too Large"
            case 501: "501 Not Implemented"
            case 505: "505 HTTP Version Not Supported"
            default: "400 Bad Request"
            }
        respond(status: status, message: error.description, keepAlive: false)
    }

    private func respond(status: String, message: String, keepAlive: Bool) {
        guard let context else { return }
        let body = "\(status): \(message)\n"
        var response = context.channel.allocator.buffer(capacity: 128 + body.utf8.count)
        response.writeString("HTTP/1.1 \(status)\r\ncontent-type: text/plain\r\ncontent-length: \(body.utf8.count)\r\n")
        response.writeString(keepAlive ? "\r\n" : "connection: close\r\n\r\n")
        response.writeString(body)
        context.write(wrapOutboundOut(response), promise: nil)
        if keepAlive {
            context.flush()
            frameUnread()
        } else {
            closeAfterWrites(context)
        }
    }

    private func closeAfterWrites(_ context: ChannelHandlerContext) {
        isClosing = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
