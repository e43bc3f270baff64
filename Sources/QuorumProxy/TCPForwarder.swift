import NIOCore
import NIOPosix
import QuorumBalancing

/// TCP mode: each accepted connection is joined to a connection to the instance the policy picks. A connect that
/// fails is retried on another instance, and counts as a failure for outlier ejection and, on every loop, as a
/// failed check. The connection counts as one request, finished when the instance's side closes.
///
/// One per accepted connection, first in its pipeline. It starts once the connection is active: the connection is
/// set up before it is registered on its loop (which, with several loops, is not the accepting one), and anything
/// forwarded to it before then would be lost.
final class TCPForwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    private let state: ProxyState
    /// Tries per connection before giving up on it; with fewer instances than that, one is tried again.
    private static let attemptsMax = 3

    init(state: ProxyState) { self.state = state }

    func channelActive(context: ChannelHandlerContext) {
        state.loop.preconditionInEventLoop()
        connect(context.channel, tried: [])
        context.fireChannelActive()
    }

    /// `tried` lists the instance of every failed try so far, once per try.
    private func connect(_ inbound: any Channel, tried: [BackendID]) {
        let state = state
        guard let route = state.routing.pick(excluding: tried, now: state.now) else {
            inbound.close(promise: nil)
            return
        }
        let begin = NIODeadline.now()
        ClientBootstrap(group: inbound.eventLoop)
            .channelOption(ChannelOptions.autoRead, value: false)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteCounter(routing: state.routing, backend: route.id))
                }
            }
            .connect(host: route.host, port: route.port)
            .whenComplete { result in
                switch result {
                case .success(let outbound):
                    self.glue(inbound, outbound, route: route, begin: begin)
                case .failure:
                    state.routing.finished(route, latency: 0, outcome: .failure, now: state.now)
                    state.connectFailed(to: route)
                    let tried = tried + [route.id]
                    if tried.count < Self.attemptsMax {
                        self.connect(inbound, tried: tried)
                    } else {
                        inbound.close(promise: nil)
                    }
                }
            }
    }

    private func glue(_ inbound: any Channel, _ outbound: any Channel, route: Route, begin: NIODeadline) {
        let state = state
        // However the pair ends, the request ends once: when the instance's side has closed.
        outbound.closeFuture.whenComplete { _ in
            state.routing.finished(route, latency: state.duration(since: begin), outcome: .success, now: state.now)
        }
        let (inboundGlue, outboundGlue) = GlueHandler.pair()
        do {
            try inbound.pipeline.syncOperations.addHandler(inboundGlue)
            try outbound.pipeline.syncOperations.addHandler(outboundGlue)
        } catch {
            inbound.close(promise: nil)
            outbound.close(promise: nil)
            return
        }
        inbound.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        outbound.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
    }
}
