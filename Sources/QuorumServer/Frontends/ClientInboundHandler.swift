import DequeModule
import NIOCore
import QuorumConsensus
import QuorumWire

/// Serves one client connection: each request frame gets exactly one response frame, in whatever order they
/// complete. A malformed frame closes this connection only.
///
/// A client that sends without reading its answers must not make the node buffer them without bound (300 unread
/// reads of a 1.5 MB value once cost 450 MB). So at most `inFlightMax` requests of a connection are served at once,
/// and none while its socket takes no more answers; the rest wait decoded, and the socket is read again only once
/// half of those are answered and the client reads.
final class ClientInboundHandler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked Sendable: the connection runs on the node's one event loop, where every answer arrives too.
    typealias InboundIn = Frame
    typealias OutboundIn = Frame
    typealias OutboundOut = Frame

    static let inFlightMax = 32

    private let host: NodeHost
    /// Groups this connection watched in, whose watches go when it closes.
    private var watchedGroups: Set<GroupID> = []
    private var inFlight = 0
    private var waiting: Deque<ClientRequest> = []
    private var readPaused = false
    /// Who the connection authenticated as, if it did: what the cluster's access rules are checked against.
    private var user: String?
    /// Set once the connection closed: answers still arriving for it are dropped by the channel, and start nothing.
    private var closed = false

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
        if let refusal = host.accessRefusal(of: request, by: user) {
            let answer = ClientResponse(requestID: request.requestID, outcome: refusal)
            return context.writeAndFlush(wrapOutboundOut(answer.frame), promise: nil)
        }
        let channel = context.channel
        switch request.operation {
        // A watch answers for as long as it lives; `--max-watches` bounds those.
        case .watch(let key, let rangeEnd, let start):
            guard let runtime = host.group(request.group) else { return serve(request, context: context) }
            watchedGroups.insert(request.group)
            runtime.watch(
                requestID: request.requestID, key: key, rangeEnd: rangeEnd, startRevision: start, channel: channel)
        case .cancelWatch(let watch):
            guard let runtime = host.group(request.group) else { return serve(request, context: context) }
            runtime.cancelWatch(requestID: watch, channel: channel)
        default:
            serve(request, context: context)
        }
    }

    private func serve(_ request: ClientRequest, context: ChannelHandlerContext) {
        waiting.append(request)
        startWaiting(context: context)
    }

    private func startWaiting(context: ChannelHandlerContext) {
        let channel = context.channel
        let host = host
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        while inFlight < Self.inFlightMax, channel.isWritable, let request = waiting.popFirst() {
            inFlight += 1
            host.handle(request) { [self] response in
                if case .access(.authenticated(let user, _)) = response.outcome { self.user = user }
                host.answer(response, on: channel)
                inFlight -= 1
                guard !closed else { return }
                startWaiting(context: bound.value)
                resumeReadingIfDrained(context: bound.value)
            }
        }
    }

    func read(context: ChannelHandlerContext) {
        if inFlight + waiting.count >= Self.inFlightMax || !context.channel.isWritable {
            readPaused = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        startWaiting(context: context)
        resumeReadingIfDrained(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func resumeReadingIfDrained(context: ChannelHandlerContext) {
        guard readPaused, context.channel.isWritable, inFlight + waiting.count < Self.inFlightMax / 2 else { return }
        readPaused = false
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        waiting.removeAll()
        for group in watchedGroups { host.group(group)?.dropWatches(of: context.channel) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
