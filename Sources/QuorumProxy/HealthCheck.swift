import NIOCore
import NIOHTTP1
import NIOPosix

/// How the proxy probes each instance. Both kinds share HAProxy's thresholds (3 failures in a row take an
/// instance out, 2 passes bring it back), which the `Balancer`'s health tracker applies.
public enum HealthCheck: Hashable, Sendable {
    /// A TCP connect, closed at once.
    case tcp
    /// `GET path`; a 2xx answer passes, anything else (or nothing within the timeout) fails.
    case http(path: String)

    /// Parses the command line's `tcp` or `http:/PATH`.
    public init?(argument: String) {
        if argument == "tcp" {
            self = .tcp
        } else if argument.hasPrefix("http:/") {
            self = .http(path: String(argument.dropFirst("http:".count)))
        } else {
            return nil
        }
    }

    /// Probes `route`; the future always succeeds, with the verdict.
    func probe(_ route: Route, on loop: any EventLoop, timeout: TimeAmount) -> EventLoopFuture<Bool> {
        let bootstrap = ClientBootstrap(group: loop).connectTimeout(timeout)
        switch self {
        case .tcp:
            return bootstrap.connect(host: route.host, port: route.port)
                .flatMap { channel in channel.close().map { true }.recover { _ in true } }
                .recover { _ in false }
        case .http(let path):
            let verdict = loop.makePromise(of: Bool.self)
            let host = route.address
            bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StatusProber(path: path, host: host, verdict: verdict))
                }
            }
            .connect(host: route.host, port: route.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    // A backend that accepts and never answers fails the check too.
                    let timer = loop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                    verdict.futureResult.whenComplete { _ in
                        timer.cancel()
                        channel.close(promise: nil)
                    }
                case .failure:
                    verdict.succeed(false)
                }
            }
            return verdict.futureResult
        }
    }
}

/// Sends one GET and reports whether the answer's status is 2xx; a connection that ends first reports false.
private final class StatusProber: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let path: String
    private let host: String
    private let verdict: EventLoopPromise<Bool>
    private var reported = false

    init(path: String, host: String, verdict: EventLoopPromise<Bool>) {
        self.path = path
        self.host = host
        self.verdict = verdict
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "host", value: host)
        head.headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            report((200..<300).contains(head.status.code))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        report(false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report(false)
        context.close(promise: nil)
    }

    /// The first verdict counts: a connection that closes after the answer does not overturn it.
    private func report(_ passed: Bool) {
        guard !reported else { return }
        reported = true
        verdict.succeed(passed)
    }
}
