import Foundation
import NIOConcurrencyHelpers
import NIOSSL
import QuorumConsensus

/// Where a node finds its peer certificate, its private key and the cluster's certificate authority (PEM files).
public struct PeerTLSFiles: Sendable, Equatable {
    public var certificate: String
    public var privateKey: String
    public var certificateAuthority: String

    public init(certificate: String, privateKey: String, certificateAuthority: String) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.certificateAuthority = certificateAuthority
    }
}

/// Mutual TLS between peers. Each node holds a certificate signed by the cluster's certificate authority that names
/// it: `node-<id>.quorum` as a DNS subject alternative name (docs/security.md). A node that dials node 2 accepts only
/// a certificate naming node 2; a node that is dialled requires a certificate, and believes a hello from node N only
/// over one naming node N. So a peer can no longer claim another member's id, and a stranger without a certificate
/// from the CA gets no further than the handshake.
///
/// The files are read again for each new connection and the contexts rebuilt when their contents changed, so that
/// certificates are rolled without a restart. Files that fail to load (half written, say) leave the last good
/// contexts in use.
final class PeerTLS: Sendable {
    private let files: PeerTLSFiles
    private let loaded: NIOLockedValueBox<Loaded>

    private struct Loaded {
        var contents: [[UInt8]]
        var server: NIOSSLContext
        var client: NIOSSLContext
    }

    /// Reads the files; throws, naming the file, if they do not make a usable pair of contexts.
    init(files: PeerTLSFiles) throws {
        self.files = files
        loaded = NIOLockedValueBox(try Self.load(files))
    }

    /// The name a node's certificate must carry.
    static func name(of node: NodeID) -> String { "node-\(node.rawValue).quorum" }

    func serverHandler() -> NIOSSLServerHandler { NIOSSLServerHandler(context: current().server) }

    func clientHandler(dialling node: NodeID) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: current().client, serverHostname: Self.name(of: node))
    }

    /// Whether `certificate`, presented by a peer, names `node`.
    static func certificate(_ certificate: NIOSSLCertificate?, names node: NodeID) -> Bool {
        guard let certificate else { return false }
        let wanted = Array(name(of: node).utf8)
        return certificate._subjectAlternativeNames().contains { name in
            name.nameType == .dnsName && Array(name.contents) == wanted
        }
    }

    private func current() -> Loaded {
        loaded.withLockedValue { loaded in
            guard let contents = try? Self.contents(of: files), contents != loaded.contents,
                let fresh = try? Self.load(files)
            else { return loaded }
            loaded = fresh
            return fresh
        }
    }

    private static func contents(of files: PeerTLSFiles) throws -> [[UInt8]] {
        try [files.certificate, files.privateKey, files.certificateAuthority].map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw PeerTLSError(path: path) }
            return Array(data)
        }
    }

    private static func load(_ files: PeerTLSFiles) throws -> Loaded {
        let contents = try contents(of: files)
        func parse<Value>(_ path: String, _ make: () throws -> Value) throws -> Value {
            do { return try make() } catch { throw PeerTLSError(path: path, reason: "\(error)") }
        }
        let chain = try parse(files.certificate) { try NIOSSLCertificate.fromPEMBytes(contents[0]) }
        let key = try parse(files.privateKey) { try NIOSSLPrivateKey(bytes: contents[1], format: .pem) }
        let authority = try parse(files.certificateAuthority) { try NIOSSLCertificate.fromPEMBytes(contents[2]) }
        guard !chain.isEmpty else { throw PeerTLSError(path: files.certificate, reason: "it holds no certificate") }
        guard !authority.isEmpty else {
            throw PeerTLSError(path: files.certificateAuthority, reason: "it holds no certificate")
        }
        var server = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        // Verifying the chain without a host name still requires the dialling peer to present a certificate; which
        // node it names is checked against its hello.
        server.certificateVerification = .noHostnameVerification
        server.trustRoots = .certificates(authority)
        server.minimumTLSVersion = .tlsv13
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = chain.map { .certificate($0) }
        client.privateKey = .privateKey(key)
        client.certificateVerification = .fullVerification
        client.trustRoots = .certificates(authority)
        client.minimumTLSVersion = .tlsv13
        return Loaded(
            contents: contents,
            server: try parse(files.certificate) { try NIOSSLContext(configuration: server) },
            client: try parse(files.certificate) { try NIOSSLContext(configuration: client) })
    }
}

struct PeerTLSError: Error, CustomStringConvertible {
    var path: String
    var reason = "it cannot be read"

    var description: String { "peer TLS file \(path): \(reason)" }
}
