import NIOCore
import NIOPosix

/// Keep-alive HTTP connections to one instance, confined to one of the proxy's loops. A request takes an idle
/// connection if there is one, opens a new one if fewer than `limit` are open, and otherwise waits for one to come
/// free, so an instance never has more than `limit` connections from this loop of the proxy.
final class BackendPool: @unchecked Sendable {
    // @unchecked Sendable: used only on its `ProxyState`'s loop, where every callback below runs.
    let route: Route
    private let loop: any EventLoop
    private let limit: Int
    private let state: ProxyState
    private var idle: [BackendConnection] = []
    /// Connections open or opening, idle ones included.
    private var open = 0
    private var waiters: [Waiter] = []
    /// Removed from the registry: hands out nothing and closes every connection as it comes free.
    private var isDraining = false

    init(route: Route, state: ProxyState, limit: Int) {
        self.route = route
        self.loop = state.loop
        self.limit = limit
        self.state = state
    }

    typealias Waiter = @Sendable (Result<BackendConnection, any Error>) -> Void

    /// Hands `waiter` a connection for one exchange (at once if one is idle); give it back with `release`. Fails if
    /// the connect fails.
    func acquire(_ waiter: @escaping Waiter) {
        loop.preconditionInEventLoop()
        guard !isDraining else { return waiter(.failure(ChannelError.ioOnClosedChannel)) }
        while let connection = idle.popLast() {
            if connection.isActive { return waiter(.success(connection)) }
        }
        if open < limit {
            connect().whenComplete(waiter)
        } else {
            waiters.append(waiter)
        }
    }

    /// Takes back a connection after its exchange; one that cannot carry another request is closed.
    func release(_ connection: BackendConnection, reusable: Bool) {
        loop.preconditionInEventLoop()
        guard reusable, !isDraining, connection.isActive else {
            connection.close()
            return
        }
        if waiters.isEmpty {
            idle.append(connection)
        } else {
            waiters.removeFirst()(.success(connection))
        }
    }

    /// Closes idle connections now; busy ones close when released. Waiting requests fail (and may retry elsewhere).
    func drain() {
        loop.preconditionInEventLoop()
        isDraining = true
        for connection in idle { connection.close() }
        idle.removeAll()
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter(.failure(ChannelError.ioOnClosedChannel)) }
    }

    private func connect() -> EventLoopFuture<BackendConnection> {
        open += 1
        let state = state
        let backend = route.id
        return ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        BackendConnection(channel: channel, routing: state.routing, backend: backend))
                }
            }
            .connect(host: route.host, port: route.port)
            .flatMap { channel in channel.pipeline.handler(type: BackendConnection.self) }
            .map { connection in
                connection.channel.closeFuture.whenComplete { _ in self.closed(connection) }
                return connection
            }
            .flatMapErrorThrowing { error in
                self.closed(nil)
                state.connectFailed(to: self.route)
                throw error
            }
    }

    /// A connection ended (or never opened): forget it, and open a new one for a request that waits.
    private func closed(_ connection: BackendConnection?) {
        open -= 1
        if let connection { idle.removeAll { $0 === connection } }
        if !waiters.isEmpty && open < limit && !isDraining {
            connect().whenComplete(waiters.removeFirst())
        }
    }
}
