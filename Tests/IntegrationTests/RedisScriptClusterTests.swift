import Foundation
import QuorumClient
import QuorumLua
import QuorumWire
import Testing

/// Lua scripts on the Redis port of a real three-node cluster: atomic and exactly counted across a leader kill, and
/// redis-py's `Lock`, which is built on them. An extension of `ClusterTests` so that it runs serialized with the other
/// clusters.
extension ClusterTests {
    /// Counts an operation once: `KEYS[2]` remembers the client's last operation number (`ARGV[1]`), so a retry of an
    /// operation that did apply (its answer lost with the leader) answers 0 instead of counting it twice. Only if both
    /// writes apply together, and the read-modify-write of `KEYS[1]` never loses a concurrent one, is the total exact.
    static let countOnce = """
        local last = tonumber(redis.call('get', KEYS[2]) or '0')
        local operation = tonumber(ARGV[1])
        if operation <= last then return 0 end
        local total = tonumber(redis.call('get', KEYS[1]) or '0') + 1
        redis.call('set', KEYS[1], total)
        redis.call('set', KEYS[2], operation)
        return total
        """

    @Test(
        "Redis port scripts: 8 clients × 25 read-modify-write scripts, the leader killed midway, end with the exact total",
        .enabled(if: luaInstalled, "Lua 5.1 not found: apt-get install liblua5.1-0"))
    func scriptsAcrossLeaderKill() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        let endpoints = try cluster.members.map { "127.0.0.1:\(try #require($0.redisPort))" }
        let (clients, operations) = (8, 25)
        let sha = SHA1.hex(Array(Self.countOnce.utf8))
        let (completions, completed) = AsyncStream<Void>.makeStream()

        let finished = try await Patience.within(seconds: 120) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for number in 0..<clients {
                    group.addTask {
                        try await Self.countOperations(
                            client: number, operations: operations, sha: sha, endpoints: endpoints,
                            start: leaderID - 1, completed: completed)
                    }
                }
                // The leader dies once a quarter of the operations are in, while the rest are in flight.
                var seen = 0
                for await _ in completions {
                    seen += 1
                    if seen == clients * operations / 4 { break }
                }
                cluster.kill(leaderID)
                try await group.waitForAll()
                completed.finish()
                return true
            }
        }
        #expect(finished == true, "the clients did not finish within 120 s")
        let newLeader = try await Self.awaitLeader(client, cluster, excluding: leaderID)
        let connection = try await RedisConnection.connect(to: endpoints[newLeader - 1])
        #expect(try await connection.send(["GET", "script:total"]) == .bulkString("\(clients * operations)"))
        // Every client's marker says all its operations applied.
        for number in 0..<clients {
            #expect(try await connection.send(["GET", "script:last:\(number)"]) == .bulkString("\(operations)"))
        }
        await connection.close()
        await client.close()
    }

    /// One client's operations, each retried (EVALSHA, EVAL on NOSCRIPT, the next node on a refusal or a dropped
    /// connection) until it has a definite answer.
    private static func countOperations(
        client number: Int, operations: Int, sha: String, endpoints: [String], start: Int,
        completed: AsyncStream<Void>.Continuation
    ) async throws {
        var index = start
        var connection: RedisConnection?
        defer { if let connection { Task { await connection.close() } } }
        let keys = ["script:total", "script:last:\(number)"]
        for operation in 1...operations {
            var useSource = false
            while true {
                do {
                    if connection == nil { connection = try await RedisConnection.connect(to: endpoints[index]) }
                    let command =
                        useSource
                        ? ["EVAL", countOnce, "2"] + keys + ["\(operation)"]
                        : ["EVALSHA", sha, "2"] + keys + ["\(operation)"]
                    let reply = try await connection!.send(command)
                    if case .integer = reply { break }
                    if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
                        useSource = true
                        continue
                    }
                    // READONLY (a follower), TRYAGAIN (an election): the next node, after a moment.
                } catch {
                    // The node died or the connection dropped: the operation may or may not have applied.
                }
                if let dropped = connection {
                    connection = nil
                    await dropped.close()
                }
                index = (index + 1) % endpoints.count
                try await Task.sleep(for: .milliseconds(20))
            }
            completed.yield()
        }
    }

    @Test(
        "Redis port scripts: redis-py's Lock acquires, blocks with a timeout, extends, reacquires, releases, fails on lost ownership, and outlives a leader kill",
        .enabled(if: luaInstalled, "Lua 5.1 not found: apt-get install liblua5.1-0"),
        .enabled(if: RedisTools.redisPy, "python3 with redis-py not found: pip install redis"))
    func redisPyLock() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let leaderID = try await Self.awaitLeader(client, cluster)
        let port = try #require(cluster.members[leaderID - 1].redisPort)
        let run = try await RedisTools.run("/usr/bin/env", ["python3", "-c", Self.redisPyLockScript, "\(port)"])
        #expect(run.status == 0, "redis-py Lock script failed: \(run.output.suffix(3000))")
        #expect(run.output.contains("redis-py lock ok"))
        // The counter the lock guarded: four threads, 25 increments each, read then written under the lock.
        #expect(try await client.get(Array("py:locked-counter".utf8))?.value == Array("100".utf8))

        // A lock taken on one leader is extended and released on the next: the key survived the leader's death, and
        // the new leader, which never saw the scripts, is sent them again by redis-py itself (NOSCRIPT, SCRIPT LOAD).
        let acquire = try await RedisTools.run(
            "/usr/bin/env", ["python3", "-c", Self.redisPyFailoverScript, "\(port)", "acquire"])
        #expect(acquire.status == 0, "acquire failed: \(acquire.output.suffix(2000))")
        cluster.kill(leaderID)
        let newLeader = try await Self.awaitLeader(client, cluster, excluding: leaderID)
        let newPort = try #require(cluster.members[newLeader - 1].redisPort)
        let release = try await RedisTools.run(
            "/usr/bin/env", ["python3", "-c", Self.redisPyFailoverScript, "\(newPort)", "release"])
        #expect(release.status == 0, "release after the leader kill failed: \(release.output.suffix(2000))")
        #expect(release.output.contains("redis-py failover ok"))
        await client.close()
    }

    /// Half of a lock's life on each side of a leader kill: `acquire` takes it with a known token, `release` (on the
    /// new leader) finds it still held, extends it, releases it, and sees it free.
    static let redisPyFailoverScript = #"""
        import sys
        import redis
        port, step = int(sys.argv[1]), sys.argv[2]
        r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        lock = r.lock("py:failover", timeout=60, thread_local=False)
        if step == "acquire":
            assert lock.acquire(blocking=False, token="failover-token")
        else:
            lock.local.token = b"failover-token"
            assert lock.locked() and lock.owned()
            assert lock.extend(5)
            assert 60000 < r.pttl("py:failover") <= 65000, r.pttl("py:failover")
            lock.release()
            assert not lock.locked()
            assert r.lock("py:failover", timeout=5).acquire(blocking=False)
            print("redis-py failover ok")
        """#

    static let redisPyLockScript = #"""
        import sys, threading, time
        import redis
        from redis.exceptions import LockError, LockNotOwnedError

        port = int(sys.argv[1])
        def connect():
            return redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        r = connect()

        # Acquire; a second client cannot, and its blocking acquire gives up after its timeout.
        lock = r.lock("py:lock", timeout=5)
        assert lock.acquire(blocking=False)
        assert lock.locked() and lock.owned()
        other = connect().lock("py:lock", timeout=5, blocking_timeout=0.3, sleep=0.02)
        started = time.monotonic()
        assert not other.acquire()
        waited = time.monotonic() - started
        assert 0.25 <= waited < 5, waited
        assert not other.owned()

        # Extend adds to the time left; with replace_ttl it sets it. Reacquire sets it back to the timeout.
        assert lock.extend(10)
        assert 10000 < r.pttl("py:lock") <= 15000, r.pttl("py:lock")
        assert lock.extend(3, replace_ttl=True)
        assert 0 < r.pttl("py:lock") <= 3000, r.pttl("py:lock")
        assert lock.reacquire()
        assert 3000 < r.pttl("py:lock") <= 5000, r.pttl("py:lock")

        # Release frees it for the other client.
        lock.release()
        assert not lock.locked()
        assert other.acquire(blocking=False)
        other.release()

        # Lost ownership: someone else's token now, or no key at all.
        assert lock.acquire(blocking=False)
        r.set("py:lock", "someone else")
        for attempt in (lock.extend, lock.reacquire):
            try:
                attempt(5) if attempt == lock.extend else attempt()
                raise AssertionError("%s of a lost lock succeeded" % attempt.__name__)
            except LockNotOwnedError:
                pass
        try:
            lock.release()
            raise AssertionError("release of a lost lock succeeded")
        except LockNotOwnedError:
            pass
        assert r.get("py:lock") == "someone else", "the other owner's key was touched"
        r.delete("py:lock")

        # A blocking acquire succeeds as soon as the holder releases.
        holder = r.lock("py:handover", timeout=30, thread_local=False)
        assert holder.acquire()
        threading.Timer(0.2, holder.release).start()
        waiter = connect().lock("py:handover", timeout=10, blocking_timeout=20, sleep=0.01)
        started = time.monotonic()
        assert waiter.acquire()
        assert time.monotonic() - started < 10, "the waiter got the lock only when it expired"
        waiter.release()

        # A lock whose timeout passed is free again: no one released it.
        short = r.lock("py:short", timeout=0.3)
        assert short.acquire(blocking=False)
        assert connect().lock("py:short", timeout=5, blocking_timeout=5, sleep=0.02).acquire()

        # Mutual exclusion: four threads, 25 increments each, read then written under the lock.
        r.set("py:locked-counter", 0)
        def worker():
            c = connect()
            for _ in range(25):
                with c.lock("py:counter-lock", timeout=10, sleep=0.002):
                    value = int(c.get("py:locked-counter"))
                    c.set("py:locked-counter", value + 1)
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert r.get("py:locked-counter") == "100", r.get("py:locked-counter")
        print("redis-py lock ok")
        """#
}
