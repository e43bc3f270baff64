import NIOCore
import NIOHTTP1
import QuorumBalancing

/// One client connection in HTTP mode, after NIO's server codec (with pipelining assistance, so requests arrive one
/// at a time). Each request gets its own pick and a pooled backend connection; the response streams back, and its
/// outcome and latency go to the balancer.
final class HTTPForwardingHandler: ChannelInboundHandler, ResponseReceiver, @unchecked Sendable {
    // @unchecked Sendable: used only on its channel's loop, its `ProxyState`'s loop.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Instances tried per request before answering 502 (GET and HEAD only; others get one try).
    private static let attemptsMax = 3

    private let state: ProxyState
    private var context: ChannelHandlerContext?
    private var exchange: Exchange?
    /// Numbers attempts, so that a connection arriving for an attempt already given up is handed back.
    private var attemptCounter = 0

    /// The request in flight and where it stands. A class, so that updating it copies no parts.
    private final class Exchange {
        let clientVersion: HTTPVersion
        let clientKeepAlive: Bool
        /// GET and HEAD may be sent again to another instance if the first never answered.
        let isRetryable: Bool
        /// Parts not yet sent on the current connection; for a retryable request, every part so far.
        var parts: [HTTPClientRequestPart]
        var sentCount = 0
        var requestEnded = false
        var tried: Set<BackendID> = []
        var attempt = 0
        var route: Route?
        var pool: BackendPool?
        var connection: BackendConnection?
        var begin = NIODeadline.now()
        var status: HTTPResponseStatus?

        init(clientVersion: HTTPVersion, clientKeepAlive: Bool, isRetryable: Bool, parts: [HTTPClientRequestPart]) {
            self.clientVersion = clientVersion
            self.clientKeepAlive = clientKeepAlive
            self.isRetryable = isRetryable
            self.parts = parts
        }
    }

    init(state: ProxyState) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            var forwarded = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri)
            forwarded.headers = Self.endToEnd(head.headers)
            if let client = context.channel.remoteAddress?.ipAddress {
                let earlier = head.headers["x-forwarded-for"].joined(separator: ", ")
                forwarded.headers.replaceOrAdd(name: "x-forwarded-for", value: earlier.isEmpty ? client : "\(earlier), \(client)")
            }
            exchange = Exchange(
                clientVersion: head.version, clientKeepAlive: head.isKeepAlive,
                isRetryable: head.method == .GET || head.method == .HEAD, parts: [.head(forwarded)])
            dispatch()
        case .body(let buffer):
            exchange?.parts.append(.body(.byteBuffer(buffer)))
            sendParts(flush: false)
        case .end(let trailers):
            exchange?.requestEnded = true
            exchange?.parts.append(.end(trailers))
            sendParts(flush: true)
        }
    }

    /// A body still arriving goes on in batches: one flush per read from the client, not one per part.
    func channelReadComplete(context: ChannelHandlerContext) {
        if let exchange, !exchange.requestEnded { exchange.connection?.flush() }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client left mid-exchange: the backend connection may be mid-response, so it cannot be reused.
        if let exchange, let route = exchange.route {
            if let connection = exchange.connection {
                connection.receiver = nil
                exchange.pool?.release(connection, reusable: false)
            }
            state.routing.finished(route, latency: state.duration(since: exchange.begin), outcome: .cancelled, now: state.now)
        }
        exchange = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.connection?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
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
        exchange.tried.insert(route.id)
        exchange.attempt = attempt
        exchange.route = route
        exchange.pool = pool
        exchange.connection = nil
        exchange.sentCount = 0
        exchange.begin = .now()
        pool.acquire().whenComplete { result in
            guard let current = self.exchange, current.attempt == attempt else {
                // The client left while the connection was being found; channelInactive finished the request.
                if case .success(let connection) = result { pool.release(connection, reusable: true) }
                return
            }
            switch result {
            case .success(let connection):
                connection.receiver = self
                current.connection = connection
                self.sendParts(flush: true)
            case .failure:
                self.attemptFailed()
            }
        }
    }

    /// Sends what the connection has not had yet; a request that may be retried keeps its parts for the next try.
    private func sendParts(flush: Bool) {
        guard let exchange, let connection = exchange.connection else { return }
        connection.send(exchange.parts[exchange.sentCount...], flush: flush)
        if exchange.isRetryable {
            exchange.sentCount = exchange.parts.count
        } else {
            exchange.parts.removeAll(keepingCapacity: true)
        }
    }

    /// The connect failed, or the connection ended before any of the response: a failure for the instance, then
    /// another instance for GET and HEAD, or 502.
    private func attemptFailed() {
        guard let exchange, let route = exchange.route else { return }
        state.routing.finished(route, latency: state.duration(since: exchange.begin), outcome: .failure, now: state.now)
        exchange.route = nil
        if exchange.isRetryable && exchange.tried.count < Self.attemptsMax {
            dispatch()
        } else {
            respondBadGateway()
        }
    }

    // MARK: From the backend

    func responsePart(_ part: HTTPClientResponsePart) {
        guard let context, let exchange else { return }
        switch part {
        case .head(let head):
            exchange.status = head.status
            var response = HTTPResponseHead(version: exchange.clientVersion, status: head.status)
            response.headers = Self.endToEnd(head.headers)
            if !exchange.clientKeepAlive {
                response.headers.add(name: "connection", value: "close")
            } else if exchange.clientVersion == .http1_0 {
                response.headers.add(name: "connection", value: "keep-alive")
            }
            context.write(wrapOutboundOut(.head(response)), promise: nil)
        case .body(let buffer):
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if !context.channel.isWritable { exchange.connection?.pauseReading() }
        case .end(let trailers):
            self.exchange = nil
            if let route = exchange.route {
                let failed = (exchange.status?.code ?? 500) >= 500
                state.routing.finished(
                    route, latency: state.duration(since: exchange.begin), outcome: failed ? .failure : .success,
                    now: state.now)
            }
            if let connection = exchange.connection {
                connection.resumeReading()
                // A connection whose request was not all sent is mid-message and cannot carry another.
                exchange.pool?.release(connection, reusable: connection.keepAlive && exchange.requestEnded)
            }
            let written = context.writeAndFlush(wrapOutboundOut(.end(trailers)))
            let channel = context.channel
            if !exchange.clientKeepAlive { written.whenComplete { _ in channel.close(promise: nil) } }
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
                state.routing.finished(route, latency: state.duration(since: exchange.begin), outcome: .failure, now: state.now)
            }
            self.exchange = nil
            context?.close(promise: nil)
        }
    }

    // MARK: Helpers

    private func respondBadGateway() {
        guard let context, let exchange else { return }
        self.exchange = nil
        let body = "502 Bad Gateway: no instance of the service could be reached\n"
        var head = HTTPResponseHead(version: exchange.clientVersion, status: .badGateway)
        head.headers.add(name: "content-type", value: "text/plain")
        head.headers.add(name: "content-length", value: "\(body.utf8.count)")
        // The rest of a request body still on its way would be read as the next request: close instead.
        let keepAlive = exchange.clientKeepAlive && exchange.requestEnded
        if !keepAlive { head.headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        let channel = context.channel
        if !keepAlive { written.whenComplete { _ in channel.close(promise: nil) } }
    }

    /// Hop-by-hop headers (RFC 9110, 7.6.1) belong to one connection and are not forwarded. Content-Length and
    /// Transfer-Encoding stay: NIO's encoders frame the forwarded body by them.
    static func endToEnd(_ headers: HTTPHeaders) -> HTTPHeaders {
        var result = headers
        let named = headers[canonicalForm: "connection"].map { $0.lowercased() }
        for name in ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"] + named {
            result.remove(name: name)
        }
        return result
    }
}
