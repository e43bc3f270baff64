import Foundation
import NIOCore
import NIOHTTP1

/// The proxy's admin endpoint, after NIO's server codec: `GET /stats` answers the per-instance counters as JSON
/// (`ProxyStats`), gathered from every loop of the proxy; anything else is 404.
final class AdminHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: used only on its channel's loop.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let snapshot: @Sendable () -> EventLoopFuture<ProxyStats>
    private var request: HTTPRequestHead?

    init(snapshot: @escaping @Sendable () -> EventLoopFuture<ProxyStats>) { self.snapshot = snapshot }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let request else { return }
            self.request = nil
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            let channel = context.channel
            guard request.method == .GET && path == "/stats" else {
                Self.respond(.notFound, #"{"error":"not found; try GET /stats"}"#, to: request, on: channel)
                return
            }
            // The next request waits until this answer is written: the server pipeline holds pipelined requests.
            snapshot().hop(to: context.eventLoop).whenSuccess { stats in
                Self.respond(.ok, Self.json(stats), to: request, on: channel)
            }
        }
    }

    private static func respond(
        _ status: HTTPResponseStatus, _ body: String, to request: HTTPRequestHead, on channel: any Channel
    ) {
        var head = HTTPResponseHead(version: request.version, status: status)
        head.headers.add(name: "content-type", value: "application/json")
        head.headers.add(name: "content-length", value: "\(body.utf8.count)")
        if !request.isKeepAlive { head.headers.add(name: "connection", value: "close") }
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(string: body))), promise: nil)
        let written = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        if !request.isKeepAlive { written.whenComplete { _ in channel.close(promise: nil) } }
    }

    private static func json(_ stats: ProxyStats) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Plain strings and integers always encode.
        return (try? encoder.encode(stats)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
