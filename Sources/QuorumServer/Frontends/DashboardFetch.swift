import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One HTTP GET of a member's page by `DashboardSampler`, bounded in time and size: a member that does not answer,
/// or answers with too much, costs the sampler at most `timeout` and `bytesMax`.
enum DashboardFetch {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The body of `path` at `address` (`host:port`) if it answers 200 within `timeout` with at most `bytesMax`
    /// bytes; throws why not otherwise.
    static func get(
        _ path: String, from address: String, on group: any EventLoopGroup, timeout: TimeAmount, bytesMax: Int
    ) async throws -> String {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else { throw Failure("'\(address)' is not HOST:PORT") }
        let host = String(address[..<colon])
        let loop = group.next()
        let answer = loop.makePromise(of: String.self)
        let deadline = loop.scheduleTask(in: timeout) {
            answer.fail(Failure("no answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        answer.futureResult.whenComplete { _ in deadline.cancel() }
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        Exchange(path: path, host: host, bytesMax: bytesMax, answer: answer))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    // A promise completed twice keeps its first result, so the deadline and the exchange may race.
                    answer.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error):
                    answer.fail(Failure(describe(error)))
                }
            }
        return try await answer.futureResult.get()
    }

    /// A connection failure in a few words (`connection refused`), not NIO's description of every attempt.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError, let attempt = error.connectionErrors.first {
            return describe(attempt.error)
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
        if case ChannelError.connectTimeout = error { return "no connection within the timeout" }
        return "\(error)"
    }

    /// Sends the request once connected and collects the response's body, up to `bytesMax`.
    private final class Exchange: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let path: String
        let host: String
        let bytesMax: Int
        let answer: EventLoopPromise<String>
        private var body = ByteBuffer()

        init(path: String, host: String, bytesMax: Int, answer: EventLoopPromise<String>) {
            self.path = path
            self.host = host
            self.bytesMax = bytesMax
            self.answer = answer
        }

        func channelActive(context: ChannelHandlerContext) {
            let head = HTTPRequestHead(
                version: .http1_1, method: .GET, uri: path, headers: ["Host": host, "Connection": "close"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                if head.status != .ok { answer.fail(Failure("it answered \(head.status.code)")) }
            case .body(var part):
                guard body.readableBytes + part.readableBytes <= bytesMax else {
                    answer.fail(Failure("it answered more than \(bytesMax) bytes"))
                    context.close(promise: nil)
                    return
                }
                body.writeBuffer(&part)
            case .end:
                answer.succeed(String(buffer: body))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            answer.fail(Failure("it closed the connection before answering"))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            answer.fail(Failure(DashboardFetch.describe(error)))
            context.close(promise: nil)
        }
    }
}
