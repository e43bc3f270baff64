import NIOCore
import QuorumConsensus
import QuorumWire

/// Serves one client connection: each request frame gets exactly one response frame, in whatever order they
/// complete. A malformed frame closes this connection only.
final class ClientInboundHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    private let host: NodeHost
    /// Groups this connection watched in, whose watches go when it closes.
    private var watchedGroups: Set<GroupID> = []

    init(host: NodeHost) { self.host = host }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let request: ClientRequest
        do throws(WireError) {
            request = try ClientRequest(decoding: frame)
        } catch {
            context.writeAndFlush(
                wrapOutboundOut(ClientResponse(requestID: 0, outcome: .failed("bad request: \(error)")).frame),
                promise: nil)
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        let host = host
        let respond: GroupRuntime.Responder = { response in host.answer(response, on: channel) }
        switch request.operation {
        case .watch(let key, let rangeEnd, let start):
            guard let runtime = host.group(request.group) else { return host.handle(request, respond: respond) }
            watchedGroups.insert(request.group)
            runtime.watch(
                requestID: request.requestID, key: key, rangeEnd: rangeEnd, startRevision: start, channel: channel)
        case .cancelWatch(let watch):
            guard let runtime = host.group(request.group) else { return host.handle(request, respond: respond) }
            runtime.cancelWatch(requestID: watch, channel: channel)
        default:
            host.handle(request, respond: respond)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        for group in watchedGroups { host.group(group)?.dropWatches(of: context.channel) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
