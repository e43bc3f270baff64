import ArgumentParser
import QuorumProxy

/// `quorum proxy`: balance TCP connections or HTTP/1.1 requests over a registered service's instances.
struct Proxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Proxy TCP connections or HTTP requests to the instances of a registered service, balanced by a policy.",
        discussion: """
            Instances come from `quorum service register`; changes reach the proxy without a restart, and removed \
            instances drain. With --admin-port, GET /stats there returns per-instance counters as JSON.
            """)

    @OptionGroup var options: ClientOptions
    @Argument(help: "The service to balance over.") var service: String
    @Option(help: "Where to listen, HOST:PORT.") var listen = "127.0.0.1:8080"
    @Option(help: "One of: \(ServiceProxy.Policy.allCases.map(\.rawValue).joined(separator: ", ")).")
    var policy = "round-robin"
    @Option(help: "tcp (a connection goes to one instance) or http (each HTTP/1.1 request is balanced).")
    var mode = "tcp"
    @Option(help: "Active health check: tcp (a connect) or http:/PATH (GET PATH, 2xx passes).")
    var check = "tcp"
    @Option(help: "Milliseconds between active health checks of each instance.")
    var checkInterval = 2000
    @Option(help: "HTTP mode: keep-alive connections to each instance per event loop, at most.")
    var poolSize = 64
    @Option(help: "Serve GET /stats on this port, on the --listen host.")
    var adminPort: Int?
    @Option(help: "Seconds over which an instance that joins or recovers ramps up from 10% of its weight (0: off).")
    var slowStart = 0
    @Option(help: "Event loops to serve on; accepted connections are spread over them (default: one per core).")
    var threads: Int?

    func run() async throws {
        guard let chosen = ServiceProxy.Policy(rawValue: policy) else {
            throw ValidationError("unknown policy '\(policy)'; choose one of \(ServiceProxy.Policy.allCases.map(\.rawValue))")
        }
        guard (threads ?? 1) > 0 else { throw ValidationError("--threads must be at least 1") }
        guard checkInterval > 0 else { throw ValidationError("--check-interval must be at least 1 ms") }
        guard poolSize > 0 else { throw ValidationError("--pool-size must be at least 1") }
        guard let proxyMode = ServiceProxy.Mode(rawValue: mode) else { throw ValidationError("--mode must be tcp or http") }
        guard let healthCheck = HealthCheck(argument: check) else {
            throw ValidationError("--check must be tcp or http:/PATH, for example http:/healthz")
        }
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--listen must be HOST:PORT") }
        let endpoints = await (try options.makeClient()).endpoints
        let proxy = try await ServiceProxy(
            service: service, host: String(parts[0]), port: port, endpoints: endpoints, policy: chosen, mode: proxyMode,
            check: healthCheck, checkInterval: .milliseconds(Int64(checkInterval)), adminPort: adminPort,
            poolLimit: poolSize, slowStart: slowStart > 0 ? .seconds(Int64(slowStart)) : nil,
            threads: threads)
        print("proxying \(listen) (\(mode)) to the instances of \(service) (\(policy))")
        if let admin = proxy.adminPort { print("stats at http://\(parts[0]):\(admin)/stats") }
        try await proxy.wait()
    }
}
