import NIOCore
import QuorumConsensus
import QuorumWire

/// Receives a peer's messages: a hello first, then batches for the group, or a leader's notice that this node
/// was removed. Anything else closes the connection.
final class PeerInboundHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    private let runtime: NodeRuntime
    private var peer: NodeID?
    private var assembler: FrameAssembler

    init(runtime: NodeRuntime) {
        self.runtime = runtime
        assembler = FrameAssembler(bytesMax: runtime.configuration.peerMessageBytesMax)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        do throws(WireError) {
            guard let peer else {
                // Nothing is assembled or kept for a stranger: the hello is one small frame.
                let hello = try PeerHello(decoding: frame)
                if let refusal = runtime.peerSaidHello(hello) {
                    runtime.metrics.peerHellosRefused.increment()
                    throw .malformed("refused the hello: \(refusal)")
                }
                peer = hello.node
                return
            }
            if frame.kind == .part {
                guard let whole = try assembler.add(frame) else { return }
                frame = whole
            }
            if frame.kind == .membershipNotice {
                let notice = try MembershipNotice(decoding: frame)
                guard notice.group == runtime.group, notice.leader == peer else {
                    throw .malformed("\(peer) sent a membership notice for another group or on behalf of another node")
                }
                return runtime.noticeRemoval(notice)
            }
            let batch = try PeerMessages(decoding: frame)
            guard batch.group == runtime.group, batch.messages.allSatisfy({ $0.from == peer }) else {
                throw .malformed("\(peer) sent messages for another group or on behalf of another node")
            }
            runtime.receive(batch.messages)
        } catch {
            runtime.logger.warning("closing a peer connection: \(error)")
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.warning("closing a peer connection: \(error)")
        context.close(promise: nil)
    }
}

/// Serves one client connection: each request frame gets exactly one response frame, in whatever order they
/// complete. A malformed frame closes this connection only.
final class ClientInboundHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    private let runtime: NodeRuntime

    init(runtime: NodeRuntime) { self.runtime = runtime }

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
        switch request.operation {
        case .watch(let key, let rangeEnd, let start):
            runtime.watch(
                requestID: request.requestID, key: key, rangeEnd: rangeEnd, startRevision: start, channel: channel)
        case .cancelWatch(let watch):
            runtime.cancelWatch(requestID: watch, channel: channel)
        default:
            runtime.handle(request) { response in channel.writeAndFlush(response.frame, promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
