import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP/JSON API of one node, served by Hummingbird on the client ports' event loop group next to the binary
/// protocol. Hummingbird runs as a ServiceLifecycle service; here that service group runs in a task of its own
/// with no signal handling (the `quorum` process owns its signals), and `shutdown()` stops it.
final class HTTPFrontend: Sendable {
    private let serviceGroup: ServiceGroup
    private let running: Task<Void, Never>
    private let dashboardSampler: DashboardSampler

    /// Starts serving and returns once the port is bound, or throws why it could not be (a port in use, say).
    /// It blocks its thread while Hummingbird starts on the concurrency pool, so call it from a thread of its
    /// own (as `quorum server` does), not from async code.
    init(
        host node: NodeHost, eventLoopGroup: any EventLoopGroup, address host: String, port: Int, tls: TLSFiles? = nil
    ) throws {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(JSONErrorMiddleware())
        let dashboardSampler = DashboardSampler(host: node)
        HTTPRoutes(gateway: RuntimeGateway(host: node), dashboardSampler: dashboardSampler).register(on: router)
        var logger = Logger(label: "quorum.http")
        // Hummingbird logs every start and stop at info; the node prints its own lines, and errors still show.
        logger.logLevel = .warning
        let bound = eventLoopGroup.next().makePromise(of: Void.self)
        let server = try tls.map { files in
            try HTTPServerBuilder.tls(
                tlsConfiguration: try ClientTLS.configuration(files, try contentsOfFiles(files.paths)))
        }
        let application = Application(
            router: router, server: server ?? .http1(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { _ in bound.succeed() }, eventLoopGroupProvider: .shared(eventLoopGroup), logger: logger)
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [application], gracefulShutdownSignals: [], logger: logger))
        self.serviceGroup = serviceGroup
        self.dashboardSampler = dashboardSampler
        // Whatever happens, `bound` is completed: a promise completed twice keeps its first result.
        running = Task {
            do {
                try await serviceGroup.run()
                bound.fail(HTTPFrontendError("the HTTP server on \(host):\(port) stopped before it started"))
            } catch {
                bound.fail(HTTPFrontendError("could not serve HTTP on \(host):\(port): \(error)"))
            }
        }
        do {
            try bound.futureResult.wait()
        } catch {
            running.cancel()
            throw error
        }
        dashboardSampler.start()
    }

    /// Stops listening, lets requests in flight finish (each answers within `RuntimeGateway.answerTimeout`),
    /// and returns once the server is gone. Call before the event loop group shuts down.
    func shutdown() async {
        await dashboardSampler.stop()
        await serviceGroup.triggerGracefulShutdown()
        await running.value
    }
}

struct HTTPFrontendError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
