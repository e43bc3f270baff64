import NIOCore

/// Connections to one Redis server, each lent to one operation at a time: `WATCH` and `MULTI` state belongs to a
/// connection, so two operations interleaving their commands on one would corrupt each other's transactions.
actor RedisConnectionPool {
    let endpoint: String
    private let timeout: Duration
    private let group: any EventLoopGroup
    private var idle: [RedisConnection] = []
    private var closed = false
    /// Enough for the few concurrent operations one Redlock client runs; more are opened and closed on demand.
    private static let idleMax = 4

    init(endpoint: String, timeout: Duration, group: any EventLoopGroup) {
        self.endpoint = endpoint
        self.timeout = timeout
        self.group = group
    }

    /// Runs `body` on a connection of its own. A connection that saw any error is closed rather than reused: it may
    /// hold a `WATCH`, or answers still on their way.
    nonisolated func withConnection<T: Sendable>(
        _ body: @Sendable (RedisConnection) async throws(RedisError) -> T
    ) async throws(RedisError) -> T {
        let connection = try await checkOut()
        do {
            let result = try await body(connection)
            await checkIn(connection)
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    private func checkOut() async throws(RedisError) -> RedisConnection {
        while let connection = idle.popLast() {
            if connection.isOpen { return connection }
        }
        return try await RedisConnection.connect(
            to: endpoint, connectTimeout: timeout, commandTimeout: timeout, group: group)
    }

    private func checkIn(_ connection: RedisConnection) async {
        if !closed, connection.isOpen, idle.count < Self.idleMax {
            idle.append(connection)
        } else {
            await connection.close()
        }
    }

    func close() async {
        closed = true
        let connections = idle
        idle.removeAll()
        for connection in connections { await connection.close() }
    }
}
