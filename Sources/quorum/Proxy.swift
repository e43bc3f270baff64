import ArgumentParser
import QuorumProxy

/// `quorum proxy`: balance TCP connections over a registered service's instances.
struct Proxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Proxy TCP connections to the instances of a registered service, balanced by a policy.",
        discussion: "Instances come from `quorum service register`; changes reach the proxy without a restart.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The service to balance over.") var service: String
    @Option(help: "Where to listen, HOST:PORT.") var listen = "127.0.0.1:8080"
    @Option(help: "One of: \(TCPProxy.Policy.allCases.map(\.rawValue).joined(separator: ", ")).")
    var policy = "round-robin"

    func run() async throws {
        guard let chosen = TCPProxy.Policy(rawValue: policy) else {
            throw ValidationError("unknown policy '\(policy)'; choose one of \(TCPProxy.Policy.allCases.map(\.rawValue))")
        }
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--listen must be HOST:PORT") }
        let endpoints = await options.makeClient().endpoints
        let proxy = try await TCPProxy(service: service, host: String(parts[0]), port: port, endpoints: endpoints, policy: chosen)
        print("proxying \(listen) to the instances of \(service) (\(policy))")
        try await proxy.wait()
    }
}
