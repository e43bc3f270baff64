import NIOCore
import NIOSSL
import NIOTLS

/// TLS to nodes whose client port serves it (`quorum server --tls-cert`): the client trusts the certificates signed
/// by one authority, and checks that a node's certificate names the host (or IP address) it dials.
public struct QuorumClientTLS: Sendable {
    let context: NIOSSLContext

    /// Trusts the authority in `certificateAuthorityFile` (PEM); throws if it cannot be read.
    public init(certificateAuthorityFile: String) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificateAuthorityFile))
        configuration.minimumTLSVersion = .tlsv12
        context = try NIOSSLContext(configuration: configuration)
    }

    /// The handler for a connection to `host`: an IP address is checked against the certificate's IP names.
    func handler(for host: String) throws -> NIOSSLClientHandler {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
    }
}

/// Completes once the TLS handshake has, or fails with why it did not (a certificate the client does not trust, a
/// server that speaks no TLS), so that a connection is handed out only once it can carry requests.
final class TLSHandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = Any
    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            done.succeed()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}
