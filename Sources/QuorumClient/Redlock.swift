import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumWire
import Synchronization

/// A Redlock client: a lock held on a majority of independent Redis servers, as described in the Redis documentation
/// (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
///
/// Releasing and extending compare the stored value before acting with `WATCH`/`GET`/`MULTI`/`EXEC`, so they need
/// no Lua: `EXEC` does nothing if the key changed after the `WATCH`.
///
/// Redlock gives no fencing token. A holder that pauses past its lease's validity can still act, while another client
/// holds the lock; use Quorum's own locks (docs/locks.md) where that matters.
public final class Redlock: Sendable {
    public let plan: RedlockPlan
    private let servers: [RedisConnectionPool]
    /// For retry jitter only. Lock values come from the system generator: two clients seeded alike must still never
    /// store the same value.
    private let jitter: Mutex<SplitMix64>

    /// - Parameters:
    ///   - servers: "host:port" of each independent Redis server.
    ///   - randomSeed: seeds the retry jitter, for tests that replay; random by default.
    public init(
        servers: [String], configuration: RedlockConfiguration = RedlockConfiguration(), randomSeed: UInt64? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws(RedlockError) {
        guard !servers.isEmpty else { throw .badConfiguration("at least one server is needed") }
        if let problem = configuration.problem { throw .badConfiguration(problem) }
        plan = RedlockPlan(serverCount: servers.count, configuration: configuration)
        self.servers = servers.map {
            RedisConnectionPool(endpoint: $0, timeout: configuration.serverTimeout, group: group)
        }
        jitter = Mutex(SplitMix64(seed: randomSeed ?? UInt64.random(in: .min ... .max)))
    }

    /// Locks `resource` on a majority of the servers, trying again after a random pause up to `retryCount` times.
    public func acquire(_ resource: String) async throws(RedlockError) -> RedlockLease {
        var attempt = 1
        while true {
            let value = Self.newValue()
            let command = ["SET", resource, value, "NX", "PX", String(plan.ttlMilliseconds)]
            let start = ContinuousClock.now
            let answers = await onEveryServer { pool in await Self.set(command, on: pool) }
            let end = ContinuousClock.now
            switch plan.outcome(of: answers, elapsed: start.duration(to: end)) {
            case .held(let validity):
                return RedlockLease(resource: resource, value: value, validity: validity, validUntil: end + validity)
            case .notHeld(let failure):
                // Also where the answer was lost: the SET may have landed there all the same.
                _ = await onEveryServer { pool in await Self.compareAndDelete(resource, value, on: pool) }
                guard plan.shouldRetry(afterAttempt: attempt) else {
                    throw .notAcquired(resource: resource, attempts: attempt, lastFailure: failure)
                }
                let pause = jitter.withLock { plan.delayBeforeRetry(using: &$0) }
                do { try await Task.sleep(for: pause) } catch { throw .cancelled }
                attempt += 1
            }
        }
    }

    /// Deletes the lock on every server where it still holds `lease.value`; a server where another client's lock
    /// (or none) is stored is left alone. Returns how many servers deleted it. Servers that cannot be reached are
    /// skipped: the key expires there by itself.
    @discardableResult
    public func release(_ lease: RedlockLease) async -> Int {
        let deleted = await onEveryServer { pool in await Self.compareAndDelete(lease.resource, lease.value, on: pool) }
        return deleted.count(where: { $0 })
    }

    /// Sets the lock's TTL anew on every server where it still holds `lease.value`, and returns the new lease if a
    /// majority did in time.
    public func extend(_ lease: RedlockLease) async throws(RedlockError) -> RedlockLease {
        let ttl = String(plan.ttlMilliseconds)
        let start = ContinuousClock.now
        let answers = await onEveryServer { pool in
            await Self.compareAndExpire(lease.resource, lease.value, ttlMilliseconds: ttl, on: pool)
        }
        let end = ContinuousClock.now
        switch plan.outcome(of: answers, elapsed: start.duration(to: end)) {
        case .held(let validity):
            return RedlockLease(
                resource: lease.resource, value: lease.value, validity: validity, validUntil: end + validity)
        case .notHeld(let failure):
            throw .notExtended(resource: lease.resource, failure: failure)
        }
    }

    /// Closes every idle connection; calls after this open new ones.
    public func close() async {
        for server in servers { await server.close() }
    }

    // MARK: One server

    /// Runs `operation` on every server at once: the validity a majority grants starts running out at the first
    /// grant, so the servers are not asked one after the other.
    private func onEveryServer<T: Sendable>(_ operation: @escaping @Sendable (RedisConnectionPool) async -> T) async
        -> [T]
    {
        await withTaskGroup(of: (Int, T).self) { group in
            for (index, server) in servers.enumerated() {
                group.addTask { (index, await operation(server)) }
            }
            var results: [(Int, T)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    private static func set(_ command: [String], on pool: RedisConnectionPool) async -> RedlockPlan.Answer {
        do {
            let reply = try await pool.withConnection { connection throws(RedisError) in
                try await connection.send(command)
            }
            switch reply {
            case .simpleString("OK"): return .granted
            case .null: return .heldByAnother
            case .error(let message): return .failed("\(pool.endpoint): \(message)")
            default: return .failed("\(pool.endpoint): unexpected answer to SET: \(reply)")
            }
        } catch {
            return .failed(error.description)
        }
    }

    /// True if the key held `value` and is now deleted.
    private static func compareAndDelete(_ key: String, _ value: String, on pool: RedisConnectionPool) async -> Bool {
        let outcome = try? await pool.withConnection { connection throws(RedisError) in
            try await ifStillHeld(key, value, on: connection, run: ["DEL", key])
        }
        return outcome == .granted
    }

    private static func compareAndExpire(
        _ key: String, _ value: String, ttlMilliseconds: String, on pool: RedisConnectionPool
    ) async -> RedlockPlan.Answer {
        do {
            return try await pool.withConnection { connection throws(RedisError) in
                try await ifStillHeld(key, value, on: connection, run: ["PEXPIRE", key, ttlMilliseconds])
            }
        } catch {
            return .failed(error.description)
        }
    }

    /// Runs `command` (answering 1 on success) if `key` holds `value`, atomically: `WATCH` makes the `EXEC` do
    /// nothing if the key changed, or expired, after the `GET` saw our value.
    private static func ifStillHeld(
        _ key: String, _ value: String, on connection: RedisConnection, run command: [String]
    ) async throws(RedisError) -> RedlockPlan.Answer {
        let watched = try await connection.send(["WATCH", key])
        guard watched == .simpleString("OK") else { throw unexpected(watched, to: "WATCH", on: connection) }
        let stored = try await connection.send(["GET", key])
        guard stored == .bulkString(Array(value.utf8)) else {
            let unwatched = try await connection.send(["UNWATCH"])
            guard unwatched == .simpleString("OK") else { throw unexpected(unwatched, to: "UNWATCH", on: connection) }
            return .heldByAnother
        }
        let answers = try await connection.pipeline([["MULTI"], command, ["EXEC"]])
        switch answers.last {
        case .array(let results)?:
            return results == [.integer(1)] ? .granted : .heldByAnother
        case .null?:
            return .heldByAnother
        default:
            throw unexpected(answers.last ?? .null, to: "EXEC", on: connection)
        }
    }

    private static func unexpected(_ reply: RESPValue, to command: String, on connection: RedisConnection) -> RedisError
    {
        .unexpectedReply(endpoint: connection.endpoint, command: command, reply: "\(reply)")
    }

    /// 20 random bytes, as hex: unique to this acquisition across every client, as the Redis documentation asks.
    private static func newValue() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<20).map { _ in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}
