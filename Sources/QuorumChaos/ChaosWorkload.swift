import Foundation
import QuorumClient
import QuorumConsensus
import QuorumSimulation
import QuorumStore
import QuorumWire

/// The clients of a chaos run: some through `QuorumClient` (gets, puts, compare-and-swaps, and puts of keys written
/// once), some through the Redis port (GET and SET), all on a few keys at a time. The keys change every
/// `keyWindowMilliseconds`, so that no key's history grows past what the checker searches quickly however long the
/// run. Values are unique integers, written as decimal text, so that a read names the write it saw.
struct ChaosWorkload: Sendable {
    var endpoints: [String]
    var redisEndpoints: [String]
    var keys: Int
    var keyWindowMilliseconds: Int
    var durationMilliseconds: Int
    var seed: UInt64
    /// Clients 0..<quorumClients use `QuorumClient`, the next `redisClients` the Redis port.
    var quorumClients: Int
    var redisClients: Int
    /// Reads answered from the serving node's own state (`linearizable: false`), yet recorded as linearizable gets:
    /// the deliberately unsafe configuration the checker must catch.
    var unsafeLocalReads: Bool
    let history: ChaosHistory

    static let ackPrefix = "chaos-ack/"

    func isRedisClient(_ index: Int) -> Bool { index >= quorumClients && index < quorumClients + redisClients }

    func key(_ index: Int) -> String { "chaos/w\(Int(history.now / 1_000) / keyWindowMilliseconds)/k\(index)" }

    private var deadline: UInt64 { UInt64(durationMilliseconds) * 1_000 }

    /// Client `index` through `QuorumClient`, until the workload's end.
    func runQuorumClient(_ index: Int) async {
        let client = QuorumClient(endpoints: endpoints, timeout: .seconds(2))
        var random = SplitMix64(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
        var written = 0
        var lastSeen: [String: Int?] = [:]
        func nextValue() -> Int {
            written += 1
            return index * 100_000_000 + written
        }
        while history.now < deadline {
            let key = key(Int.random(in: 0..<keys, using: &random))
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4:
                let outcome = await history.perform(client: index, key: key, .get) {
                    do {
                        let kv = try await client.get(Array(key.utf8), linearizable: !unsafeLocalReads)
                        return .completed(.value(kv.flatMap { Int(String(decoding: $0.value, as: UTF8.self)) }))
                    } catch { return Self.outcome(of: error) }
                }
                if case .completed(.value(let value)) = outcome { lastSeen[key] = value }
            case 4..<7:
                let value = nextValue()
                _ = await history.perform(client: index, key: key, .put(value)) {
                    do {
                        try await client.put(Array(key.utf8), Array(String(value).utf8))
                        return .completed(.ok)
                    } catch { return Self.outcome(of: error) }
                }
            case 7..<9:
                let expected = lastSeen[key] ?? nil
                let value = nextValue()
                let comparison =
                    expected.map { Comparison(key: Array(key.utf8), .value(Array(String($0).utf8)), .equal) }
                    ?? Comparison(key: Array(key.utf8), .version(0), .equal)
                let swap = TransactionRequest(
                    compare: [comparison],
                    success: [.put(PutRequest(key: Array(key.utf8), value: Array(String(value).utf8)))])
                _ = await history.perform(client: index, key: key, .compareAndSet(expected: expected, new: value)) {
                    do {
                        return .completed(.swapped(try await client.transaction(swap).succeeded))
                    } catch { return Self.outcome(of: error) }
                }
            default:
                let value = nextValue()
                let ackKey = "\(Self.ackPrefix)\(index)/\(value)"
                do {
                    try await client.put(Array(ackKey.utf8), Array(String(value).utf8))
                    history.recordAcknowledged(key: ackKey, value: value)
                } catch {}
            }
        }
        await client.close()
    }

    /// What a failed `QuorumClient` call says about whether it happened.
    static func outcome(of error: any Error) -> CallOutcome {
        // Only the store's own refusal proves nothing was applied; a refusal by the node (it shuts down, say) may
        // come after the write was proposed.
        if case QuorumClientError.store = error { return .refused }
        return .unknown
    }

    /// Client `index` through the Redis port, following -READONLY to the leader, until the workload's end.
    func runRedisClient(_ index: Int) async {
        var random = SplitMix64(seed: seed &+ UInt64(index) &* 0xBF58_476D)
        var written = 0
        var connection: RedisConnection?
        var endpoint = redisEndpoints[index % redisEndpoints.count]
        while history.now < deadline {
            if connection == nil {
                connection = try? await RedisConnection.connect(
                    to: endpoint, connectTimeout: .seconds(1), commandTimeout: .seconds(2))
                if connection == nil {
                    endpoint = redisEndpoints[Int.random(in: 0..<redisEndpoints.count, using: &random)]
                    try? await Task.sleep(for: .milliseconds(50))
                    continue
                }
            }
            guard let redis = connection else { continue }
            let key = key(Int.random(in: 0..<keys, using: &random))
            if Bool.random(using: &random) {
                _ = await history.perform(client: index, key: key, .get) {
                    switch try? await redis.send(["GET", key]) {
                    case .bulkString(let bytes)?: return .completed(.value(Int(String(decoding: bytes, as: UTF8.self))))
                    case .null?: return .completed(.value(nil))
                    default:
                        connection = nil
                        return .unknown
                    }
                }
            } else {
                written += 1
                let value = index * 100_000_000 + written
                _ = await history.perform(client: index, key: key, .put(value)) {
                    do {
                        switch try await redis.send(["SET", key, String(value)]) {
                        case .simpleString("OK"): return .completed(.ok)
                        case .error(let message) where Self.isRefusedBeforeProposing(message):
                            endpoint =
                                Self.leaderAddress(in: message)
                                ?? redisEndpoints[Int.random(in: 0..<redisEndpoints.count, using: &random)]
                            connection = nil
                            return .refused
                        default:
                            connection = nil
                            return .unknown
                        }
                    } catch {
                        connection = nil
                        endpoint = redisEndpoints[Int.random(in: 0..<redisEndpoints.count, using: &random)]
                        return .unknown
                    }
                }
            }
            if connection == nil { await redis.close() }
        }
        await connection?.close()
    }

    /// Whether a Redis error says the write was never proposed: refused by a follower, or while no leader was
    /// known. Other TRYAGAIN answers (no answer in time, leadership changed) may come after the write took effect.
    static func isRefusedBeforeProposing(_ message: String) -> Bool {
        message.hasPrefix("READONLY ") || message.hasPrefix("TRYAGAIN no leader is known")
    }

    /// The Redis address a -READONLY error names ("... The leader is node 2 at 127.0.0.1:7212.").
    static func leaderAddress(in message: String) -> String? {
        guard let range = message.range(of: " at ") else { return nil }
        let address = message[range.upperBound...].prefix { !$0.isWhitespace }
        let trimmed = address.hasSuffix(".") ? address.dropLast() : address
        return trimmed.contains(":") && !trimmed.contains("(") ? String(trimmed) : nil
    }
}
