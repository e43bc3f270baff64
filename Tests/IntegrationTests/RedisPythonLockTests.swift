import Foundation
import QuorumClient
import QuorumWire
import Testing

/// Lock libraries from PyPI, unchanged, against Quorum's Redis port: python-redis-lock (Lua scripts and a BLPOP
/// signal list) and pottery's Redlock over three independent Quorum clusters, whose leaders die without losing a
/// held lock. An extension of `ClusterTests` so that it runs serialized with the other clusters.
extension ClusterTests {
    @Test(
        "python-redis-lock and pottery's Redlock over three Quorum clusters: exclusion, blocking waits, extend, release; a held lock outlives a leader kill",
        .enabled(if: luaInstalled, "Lua 5.1 not found: apt-get install liblua5.1-0"),
        .enabled(
            if: RedisTools.pythonLockLibraries,
            "python-redis-lock or pottery not found: pip install python-redis-lock pottery"))
    func pythonLockLibraries() async throws {
        var clusters: [(ClusterProcesses, QuorumClient)] = []
        defer {
            for (cluster, _) in clusters { cluster.stopAll() }
        }
        for _ in 0..<3 { clusters.append(try await Self.startCluster()) }
        var leaders: [Int] = []
        for (cluster, client) in clusters { leaders.append(try await Self.awaitLeader(client, cluster)) }
        func leaderPorts() throws -> [String] {
            try zip(clusters, leaders).map { "\(try #require($0.0.members[$1 - 1].redisPort))" }
        }

        let first = try await RedisTools.run(
            "/usr/bin/env", ["python3", "-c", Self.pythonLockScript, "first"] + (try leaderPorts()))
        #expect(first.status == 0, "lock libraries failed: \(first.output.suffix(3000))")
        #expect(first.output.contains("python lock libraries ok"))

        // The first run left `py-held` locked on all three clusters. The first cluster's leader dies; its new
        // leader still holds the lock's key, so a contender is refused everywhere, where Redis without an fsync
        // per write could have forgotten it.
        let (cluster, client) = clusters[0]
        cluster.kill(leaders[0])
        leaders[0] = try await Self.awaitLeader(client, cluster, excluding: leaders[0])
        let ports = try leaderPorts()
        let held = try await RedisConnection.connect(to: "127.0.0.1:\(ports[0])")
        guard case .bulkString = try await held.send(["GET", "redlock:py-held"]) else {
            Issue.record("the new leader lost the lock's key")
            return
        }
        await held.close()
        // And with the third cluster down altogether, the other two still make Redlock's majority.
        clusters[2].0.stopAll()
        let second = try await RedisTools.run(
            "/usr/bin/env", ["python3", "-c", Self.pythonLockScript, "after-kill"] + ports)
        #expect(second.status == 0, "lock libraries after the kill failed: \(second.output.suffix(3000))")
        #expect(second.output.contains("python lock libraries ok"))
        for (_, client) in clusters { await client.close() }
    }

    /// `first`: python-redis-lock on the first cluster, then pottery's Redlock on all three, leaving `py-held` locked.
    /// `after-kill`: `py-held` is still refused to a contender, and a new lock is granted by the two live clusters.
    static let pythonLockScript = #"""
        import sys, threading, redis, redis_lock
        from pottery import Redlock
        mode, ports = sys.argv[1], [int(port) for port in sys.argv[2:5]]
        def client(port):
            return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
        masters = {client(port) for port in ports}

        if mode == "first":
            conn = client(ports[0])
            lock = redis_lock.Lock(conn, "prl", expire=30, id="holder")
            assert lock.acquire(blocking=False)
            other = redis_lock.Lock(client(ports[0]), "prl", expire=30)
            assert not other.acquire(blocking=False)
            assert not other.acquire(timeout=1), "a blocking acquire with a timeout got a held lock"
            assert lock.get_owner_id() == "holder"
            lock.extend(expire=60)
            assert 50 < conn.ttl("lock:prl") <= 60
            # A waiter blocked on the signal list is woken by the release (or finds the lock free if it comes late).
            woken = []
            def wait():
                waiter = redis_lock.Lock(client(ports[0]), "prl", expire=30)
                woken.append(waiter.acquire(timeout=20))
                waiter.release()
            thread = threading.Thread(target=wait)
            thread.start()
            lock.release()
            thread.join()
            assert woken == [True], woken
            try:
                lock.release()
                raise SystemExit("a lock no longer held was released")
            except redis_lock.NotAcquired:
                pass
            # Mutual exclusion: four threads, 25 read-then-write increments each, under the lock.
            conn.set("prl-counter", 0)
            def increment():
                own = client(ports[0])
                for _ in range(25):
                    with redis_lock.Lock(own, "prl-counter-lock", expire=30):
                        own.set("prl-counter", int(own.get("prl-counter")) + 1)
            threads = [threading.Thread(target=increment) for _ in range(4)]
            for thread in threads: thread.start()
            for thread in threads: thread.join()
            assert conn.get("prl-counter") == b"100", conn.get("prl-counter")

            # pottery's Redlock over the three clusters.
            lock = Redlock(key="py-demo", masters=masters, auto_release_time=20)
            assert lock.acquire(blocking=False)
            contender = Redlock(key="py-demo", masters=masters, auto_release_time=20)
            assert not contender.acquire(blocking=False)
            assert not contender.acquire(timeout=0.5)
            lock.extend()
            assert lock.locked() > 10
            lock.release()
            assert contender.acquire(blocking=False)
            contender.release()
            total = {"value": 0}
            def count():
                for _ in range(10):
                    with Redlock(key="py-count", masters=masters, auto_release_time=20):
                        value = total["value"]
                        total["value"] = value + 1
            threads = [threading.Thread(target=count) for _ in range(3)]
            for thread in threads: thread.start()
            for thread in threads: thread.join()
            assert total["value"] == 30, total
            held = Redlock(key="py-held", masters=masters, auto_release_time=120)
            assert held.acquire(blocking=False)
        else:
            contender = Redlock(key="py-held", masters=masters, auto_release_time=20)
            assert not contender.acquire(blocking=False), "a held lock was granted again after the leader kill"
            fresh = Redlock(key="py-fresh", masters=masters, auto_release_time=20)
            assert fresh.acquire(blocking=False), "two live clusters of three did not grant a lock"
            fresh.release()
        print("python lock libraries ok")
        """#
}
