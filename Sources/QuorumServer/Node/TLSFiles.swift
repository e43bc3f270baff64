import NIOSSL

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

/// The accepting side of TLS on one of the node's ports.
protocol ServerTLS: Sendable {
    /// A handler for a new connection, with the certificate as the files hold it now.
    func serverHandler() -> NIOSSLServerHandler
}
