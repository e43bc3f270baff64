import Foundation
import NIOCore
import NIOHTTP1
import Prometheus

/// The proxy's admin endpoint, after NIO's server codec: `GET /stats` answers the per-instance counters as JSON
/// (`ProxyStats`), gathered from every loop of the proxy, and `GET /metrics` the same in Prometheus's text format;
/// anything else is 404.
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
            guard request.method == .GET && (path == "/stats" || path == "/metrics") else {
                Self.respond(
                    .notFound, #"{"error":"not found; try GET /stats or GET /metrics"}"#, type: "application/json",
                    to: request, on: channel)
                return
            }
            // The next request waits until this answer is written: the server pipeline holds pipelined requests.
            snapshot().hop(to: context.eventLoop).whenSuccess { stats in
                if path == "/stats" {
                    Self.respond(.ok, Self.json(stats), type: "application/json", to: request, on: channel)
                } else {
                    Self.respond(
                        .ok, Self.prometheus(stats), type: "text/plain; version=0.0.4; charset=utf-8", to: request,
                        on: channel)
                }
            }
        }
    }

    private static func respond(
        _ status: HTTPResponseStatus, _ body: String, type: String, to request: HTTPRequestHead, on channel: any Channel
    ) {
        var head = HTTPResponseHead(version: request.version, status: status)
        head.headers.add(name: "content-type", value: type)
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

    /// `stats` as Prometheus metrics, each instance's samples labelled with the service, its id and its address;
    /// `quorum_proxy_backend_up` is 1 while the instance may get requests. A registry per scrape: the counts live
    /// in the proxy's loops, and this is a snapshot of them.
    static func prometheus(_ stats: ProxyStats) -> String {
        let registry = PrometheusCollectorRegistry()
        func name(_ metric: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(
                namespace: "quorum", subsystem: "proxy_backend", metricName: metric, unitName: unit, helpText: help)
        }
        let metric = (
            requests: name("requests", unit: "total", "Requests (TCP: connections) handed to the instance."),
            failures: name("failures", unit: "total", "Requests that failed at the instance, or got 500 or above."),
            active: name("active", "Requests (TCP: connections) in flight now."),
            sent: name("sent_bytes", unit: "total", "Bytes written to the instance."),
            received: name("received_bytes", unit: "total", "Bytes read from the instance."),
            up: name("up", "1 while the instance may get requests: healthy, not ejected, not draining.")
        )
        for (id, backend) in stats.backends {
            let labels = [("service", stats.service), ("backend", id), ("address", backend.address)]
            registry.makeCounter(descriptor: metric.requests, labels: labels).increment(by: Int64(backend.total))
            registry.makeCounter(descriptor: metric.failures, labels: labels).increment(by: Int64(backend.failures))
            registry.makeGauge(descriptor: metric.active, labels: labels).set(to: Double(backend.active))
            registry.makeCounter(descriptor: metric.sent, labels: labels).increment(by: Int64(backend.bytesSent))
            registry.makeCounter(descriptor: metric.received, labels: labels).increment(
                by: Int64(backend.bytesReceived))
            registry.makeGauge(descriptor: metric.up, labels: labels).set(to: backend.state == .healthy ? 1 : 0)
        }
        return registry.emitToString()
    }
}
