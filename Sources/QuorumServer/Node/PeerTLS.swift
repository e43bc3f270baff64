import NIOSSL
import QuorumConsensus

/// Where a node finds a certificate, its private key and, for peers, the certificate authority (PEM files).
public struct TLSFiles: Sendable, Equatable {
    public var certificate: String
    public var privateKey: String
    /// The authority that signs the other side's certificates; nil where the other side presents none (clients).
    public var certificateAuthority: String?

    public init(certificate: String, privateKey: String, certificateAuthority: String? = nil) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.certificateAuthority = certificateAuthority
    }

    var paths: [String] { [certificate, privateKey] + (certificateAuthority.map { [$0] } ?? []) }

    /// The certificate chain and key of `contents` (read from `paths`), and the authority's certificates.
    func parse(_ contents: [[UInt8]]) throws -> (
        chain: [NIOSSLCertificateSource], key: NIOSSLPrivateKey, authority: [NIOSSLCertificate]
    ) {
        let chain = try TLSFileError.blaming(certificate) { try NIOSSLCertificate.fromPEMBytes(contents[0]) }
        guard !chain.isEmpty else { throw TLSFileError(path: certificate, reason: "it holds no certificate") }
        let key = try TLSFileError.blaming(privateKey) { try NIOSSLPrivateKey(bytes: contents[1], format: .pem) }
        var authority: [NIOSSLCertificate] = []
        if let path = certificateAuthority {
            authority = try TLSFileError.blaming(path) { try NIOSSLCertificate.fromPEMBytes(contents[2]) }
            guard !authority.isEmpty else { throw TLSFileError(path: path, reason: "it holds no certificate") }
        }
        return (chain.map { .certificate($0) }, key, authority)
    }
}

/// Mutual TLS between peers. Each node holds a certificate signed by the cluster's certificate authority that names
/// it: `node-<id>.quorum` as a DNS subject alternative name (docs/security.md). A node that dials node 2 accepts only
/// a certificate naming node 2; a node that is dialled requires a certificate, and believes a hello from node N only
/// over one naming node N. So a peer can no longer claim another member's id, and a stranger without a certificate
/// from the authority gets no further than the handshake. The files are reloaded as they change (`ReloadingFiles`).
/// The accepting side of TLS on one of the node's ports.
protocol ServerTLS: Sendable {
    /// A handler for a new connection, with the certificate as the files hold it now.
    func serverHandler() -> NIOSSLServerHandler
}

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

/// TLS on the ports clients use (the client port, HTTP and Redis): the node's certificate for its host names, which
/// clients check against the authority they trust. Clients present no certificate. The files are reloaded as they
/// change, for the client and Redis ports (`ReloadingFiles`); the HTTP port reads them when it starts.
final class ClientTLS: ServerTLS {
    private let context: ReloadingFiles<NIOSSLContext>
    let files: TLSFiles

    init(files: TLSFiles) throws {
        self.files = files
        context = try ReloadingFiles(files.paths) { contents in
            try TLSFileError.blaming(files.certificate) {
                try NIOSSLContext(configuration: try Self.configuration(files, contents))
            }
        }
    }

    /// The server side of TLS 1.2 or later with the node's certificate.
    static func configuration(_ files: TLSFiles, _ contents: [[UInt8]]) throws -> TLSConfiguration {
        let (chain, key, _) = try files.parse(contents)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    func serverHandler() -> NIOSSLServerHandler { NIOSSLServerHandler(context: context.current) }
}
