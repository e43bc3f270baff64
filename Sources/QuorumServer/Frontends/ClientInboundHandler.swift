import DequeModule
import NIOCore
import QuorumConsensus
import QuorumWire

/// Serves one client connection: each request frame gets exactly one response frame, in whatever order they
/// complete. A malformed frame closes this connection only.
///
/// The connection lives on an event loop of the client ports, not on the node's: its frames are read, checked and
/// decoded there, and only the decoded request hops to the node's loop (`host.loop`), where the node handles it and
/// writes the answer, so that clients cannot delay heartbeats, votes or fsync completions with their bytes.
///
/// A client that sends without reading its answers must not make the node buffer them without bound (300 unread
/// reads of a 1.5 MB value once cost 450 MB). So at most `inFlightMax` requests of a connection are served at once,
/// and none while its socket takes no more answers; the rest wait decoded, and the socket is read again only once
/// half of those are answered and the client reads.
final class ClientInboundHandler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked Sendable: every property is used on the connection's own loop only; the node's work is handed to
    // `host.loop`, and what it answers hops back here.
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
        switch request.operation {
        // A watch answers for as long as it lives; `--max-watches` bounds those.
        case .watch(let key, let rangeEnd, let start):
            watchedGroups.insert(request.group)
            onNodeLoop(request, context: context) { host, channel in
                guard let runtime = host.group(request.group) else {
                    return host.handle(request) { host.answer($0, on: channel) }
                }
                runtime.watch(
                    requestID: request.requestID, key: key, rangeEnd: rangeEnd, startRevision: start, channel: channel)
            }
        case .cancelWatch(let watch):
            onNodeLoop(request, context: context) { host, channel in
                guard let runtime = host.group(request.group) else {
                    return host.handle(request) { host.answer($0, on: channel) }
                }
                runtime.cancelWatch(requestID: watch, channel: channel)
            }
        default:
            waiting.append(request)
            startWaiting(context: context)
        }
    }

    /// Runs `body` on the node's loop once the connection's user may make `request`; otherwise answers why not.
    private func onNodeLoop(
        _ request: ClientRequest, context: ChannelHandlerContext,
        _ body: @escaping @Sendable (NodeHost, any Channel) -> Void
    ) {
        let (host, channel, user) = (host, context.channel, user)
        host.loop.execute {
            if let refusal = host.accessRefusal(of: request, by: user) {
                return host.answer(ClientResponse(requestID: request.requestID, outcome: refusal), on: channel)
            }
            body(host, channel)
        }
    }

    private func startWaiting(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        while inFlight < Self.inFlightMax, context.channel.isWritable, let request = waiting.popFirst() {
            inFlight += 1
            onNodeLoop(request, context: context) { host, channel in
                host.handle(request) { response in
                    host.answer(response, on: channel)
                    bound.eventLoop.execute { self.answered(response, context: bound.value) }
                }
            }
        }
    }

    /// Back on the connection's loop once the node answered one of its requests.
    private func answered(_ response: ClientResponse, context: ChannelHandlerContext) {
        if case .access(.authenticated(let user, _)) = response.outcome { self.user = user }
        inFlight -= 1
        guard !closed else { return }
        startWaiting(context: context)
        resumeReadingIfDrained(context: context)
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
        let (host, channel, groups) = (host, context.channel, watchedGroups)
        host.loop.execute {
            for group in groups { host.group(group)?.dropWatches(of: channel) }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
