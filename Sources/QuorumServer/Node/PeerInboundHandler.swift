import NIOCore
import NIOSSL
import QuorumConsensus
import QuorumWire

/// Receives a peer's messages: a hello first, then batches for the node's groups, a leader's notice that this
/// node's replica of a group was removed, or a Redis publication for this node's subscribers. Anything else closes
/// the connection.
final class PeerInboundHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    private let host: NodeHost
    private var peer: NodeID?
    private var assembler: FrameAssembler
    /// Closes the connection if no accepted hello came by then: a silent stranger holds a socket no longer.
    private var helloDeadline: Scheduled<Void>?

    init(host: NodeHost) {
        self.host = host
        assembler = FrameAssembler(bytesMax: host.configuration.peerMessageBytesMax)
    }

    func channelActive(context: ChannelHandlerContext) {
        let metrics = host.metrics
        let channel = context.channel
        helloDeadline = context.eventLoop.scheduleTask(in: TimeAmount(host.configuration.peerHelloTimeout)) {
            metrics.peerHellosLate.increment()
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        helloDeadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        do throws(WireError) {
            guard let peer else {
                // Nothing is assembled or kept for a stranger: the hello is one small frame.
                let hello = try PeerHello(decoding: frame)
                if let refusal = certificateRefusal(of: hello, context: context) ?? host.peerSaidHello(hello) {
                    host.metrics.peerHellosRefused.increment()
                    throw .malformed("refused the hello: \(refusal)")
                }
                peer = hello.node
                // A member now: it no longer waits for a hello, nor counts among the strangers the port admits.
                helloDeadline?.cancel()
                try? context.pipeline.syncOperations.handler(type: ConnectionGate.Handler.self).leave()
                return
            }
            host.heard(from: peer)
            if frame.kind == .part {
                guard let whole = try assembler.add(frame) else { return }
                frame = whole
            }
            if frame.kind == .membershipNotice {
                let notice = try MembershipNotice(decoding: frame)
                guard notice.leader == peer else {
                    throw .malformed("\(peer) sent a membership notice on behalf of another node")
                }
                return host.noticeRemoval(notice)
            }
            if frame.kind == .membershipQuery {
                return host.answer(try MembershipQuery(decoding: frame), from: peer)
            }
            if frame.kind == .publication {
                return host.receive(try Publication(decoding: frame))
            }
            let batch = try PeerMessages(decoding: frame)
            guard batch.groups.allSatisfy({ $0.messages.allSatisfy { $0.from == peer } }) else {
                throw .malformed("\(peer) sent messages on behalf of another node")
            }
            host.receive(batch)
        } catch {
            host.logger.warning("closing a peer connection: \(error)")
            context.close(promise: nil)
        }
    }

    /// With peer TLS, a hello is believed only over a certificate that names the node it says it is.
    private func certificateRefusal(of hello: PeerHello, context: ChannelHandlerContext) -> String? {
        guard host.tls != nil else { return nil }
        let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
        guard PeerTLS.certificate(certificate, names: hello.node) else {
            return "a peer says hello as node \(hello.node.rawValue), but its certificate does not name "
                + PeerTLS.name(of: hello.node)
        }
        return nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        host.logger.warning("closing a peer connection: \(error)")
        context.close(promise: nil)
    }
}
