import NIOSSL
import QuorumConsensus

/// Mutual TLS between peers. Each node holds a certificate signed by the cluster's certificate authority that names
/// it: `node-<id>.quorum` as a DNS subject alternative name (docs/security.md). A node that dials node 2 accepts only
/// a certificate naming node 2; a node that is dialled requires a certificate, and believes a hello from node N only
/// over one naming node N. So a peer can no longer claim another member's id, and a stranger without a certificate
/// from the authority gets no further than the handshake. The files are reloaded as they change (`ReloadingFiles`).
final class PeerTLS: ServerTLS {
    private let contexts: ReloadingFiles<Contexts>

    private struct Contexts: Sendable {
        var server: NIOSSLContext
        var client: NIOSSLContext
    }

    init(files: TLSFiles) throws {
        contexts = try ReloadingFiles(files.paths) { contents in
            let (chain, key, authority) = try files.parse(contents)
            var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            // Verifying the chain without a host name still requires the dialling peer to present a certificate;
            // which node it names is checked against its hello.
            server.certificateVerification = .noHostnameVerification
            server.trustRoots = .certificates(authority)
            server.minimumTLSVersion = .tlsv13
            var client = TLSConfiguration.makeClientConfiguration()
            client.certificateChain = chain
            client.privateKey = .privateKey(key)
            client.certificateVerification = .fullVerification
            client.trustRoots = .certificates(authority)
            client.minimumTLSVersion = .tlsv13
            return try TLSFileError.blaming(files.certificate) {
                Contexts(
                    server: try NIOSSLContext(configuration: server), client: try NIOSSLContext(configuration: client))
            }
        }
    }

    /// The name a node's certificate must carry.
    static func name(of node: NodeID) -> String { "node-\(node.rawValue).quorum" }

    func serverHandler() -> NIOSSLServerHandler { NIOSSLServerHandler(context: contexts.current.server) }

    func clientHandler(dialling node: NodeID) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: contexts.current.client, serverHostname: Self.name(of: node))
    }

    /// Whether `certificate`, presented by a peer, names `node`.
    static func certificate(_ certificate: NIOSSLCertificate?, names node: NodeID) -> Bool {
        guard let certificate else { return false }
        let wanted = Array(name(of: node).utf8)
        return certificate._subjectAlternativeNames().contains { name in
            name.nameType == .dnsName && Array(name.contents) == wanted
        }
    }
}
