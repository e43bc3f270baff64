import NIOSSL

/// TLS on the ports clients use (the client port, HTTP and Redis): the node's certificate for its host names, which
/// clients check against the authority they trust. Clients present no certificate. The files are reloaded as they
/// change, for the client and Redis ports (`ReloadingFiles`); the HTTP port reads them when it starts.
final class ClientTLS: ServerTLS {
    private let context: ReloadingFiles<NIOSSLContext>

    init(files: TLSFiles) throws {
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
