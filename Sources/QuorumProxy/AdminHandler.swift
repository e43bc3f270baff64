import Foundation
import NIOCore
import NIOHTTP1

/// The proxy's admin endpoint, after NIO's server codec: `GET /stats` answers the per-instance counters as JSON
/// (`ProxyStats`); anything else is 404. It runs on the proxy's loop, so a snapshot is one consistent moment.
final class AdminHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: used only on its channel's loop, the proxy's loop.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let snapshot: @Sendable () -> ProxyStats
    private var request: HTTPRequestHead?

    init(snapshot: @escaping @Sendable () -> ProxyStats) { self.snapshot = snapshot }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let request else { return }
            self.request = nil
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            let (status, body): (HTTPResponseStatus, String) =
                if request.method == .GET && path == "/stats" {
                    (.ok, Self.json(snapshot()))
                } else {
                    (.notFound, #"{"error":"not found; try GET /stats"}"#)
                }
            var head = HTTPResponseHead(version: request.version, status: status)
            head.headers.add(name: "content-type", value: "application/json")
            head.headers.add(name: "content-length", value: "\(body.utf8.count)")
            if !request.isKeepAlive { head.headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            let channel = context.channel
            if !request.isKeepAlive { written.whenComplete { _ in channel.close(promise: nil) } }
        }
    }

    private static func json(_ stats: ProxyStats) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Plain strings and integers always encode.
        return (try? encoder.encode(stats)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
