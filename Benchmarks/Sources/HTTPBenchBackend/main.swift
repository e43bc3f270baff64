// A minimal HTTP/1.1 backend for Benchmarks/peers/run_proxy_vs_haproxy.sh: answers every request with 200 and a
// short body naming itself, keep-alive, on one event loop. Python's http.server would be the bottleneck instead of
// the proxies under test.
//
//   swift run -c release --package-path Benchmarks HTTPBenchBackend PORT NAME
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

final class Responder: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let body: String

    init(body: String) { self.body = body }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        var head = HTTPResponseHead(version: request.version, status: .ok)
        head.headers.add(name: "content-type", value: "text/plain")
        head.headers.add(name: "content-length", value: "\(body.utf8.count)")
        if !request.isKeepAlive { head.headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        let channel = context.channel
        if !request.isKeepAlive { written.whenComplete { _ in channel.close(promise: nil) } }
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[1]) else {
    print("usage: HTTPBenchBackend PORT NAME")
    exit(64)
}
let body = "\(arguments[2])\n"
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try await ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .serverChannelOption(ChannelOptions.backlog, value: 256)
    .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(Responder(body: body))
        }
    }
    .bind(host: "127.0.0.1", port: port).get()
print("listening on 127.0.0.1:\(port)")
try await server.closeFuture.get()
