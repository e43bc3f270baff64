import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import QuorumClient
import QuorumProxy
import Testing

extension ClusterTests {
    @Test("the HTTP proxy balances each request by weight, reuses backend connections, counts, and skips a failing check")
    func httpProxyBalancesRequests() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backends = [
            try await HTTPBackend(name: "a", group: group), try await HTTPBackend(name: "b", group: group),
            try await HTTPBackend(name: "c", group: group),
        ]
        var registrations: [ServiceRegistration] = []
        for (backend, weight) in zip(backends, [1, 2, 3]) {
            registrations.append(
                try await client.register(ServiceInstance(service: "web", id: backend.name, address: backend.address, weight: weight)))
        }
        let proxy = try await ServiceProxy(
            service: "web", host: "127.0.0.1", port: 0, endpoints: cluster.clientEndpoints, policy: .weighted,
            mode: .http, check: .http(path: "/healthz"), checkInterval: .milliseconds(50), adminPort: 0)
        let clients = [try await HTTPTestClient(port: proxy.port, group: group), try await HTTPTestClient(port: proxy.port, group: group)]

        // Per request, not per connection: two keep-alive connections, 240 requests, shares of 1:2:3.
        var answers: [String: Int] = [:]
        for round in 0..<240 {
            let reply = try await clients[round % 2].send("/")
            answers[reply.status == 200 ? reply.body : "status \(reply.status)", default: 0] += 1
        }
        for (name, share) in [("a", 40), ("b", 80), ("c", 120)] {
            #expect(abs((answers[name] ?? 0) - share) <= 3, "\(name): \(answers)")
        }
        // Requests one after another need one backend connection per client connection at most.
        for backend in backends {
            #expect(backend.seen.connectionsUsed <= 2, "\(backend.name) accepted \(backend.seen.connectionsUsed) connections")
            #expect(Set(backend.seen.forwardedFor) == ["127.0.0.1"])
        }

        // A chunked request body reaches the backend, and a chunked response comes back whole.
        let posted = try await clients[0].send("/echo", method: .POST, chunks: ["hello ", "world"])
        #expect(posted.status == 200)
        #expect(posted.body.hasSuffix(":hello world"), "\(posted.body)")

        // The counters, over the admin endpoint, match what the backends saw.
        let stats = try await Self.adminStats(port: proxy.adminPort, group: group)
        #expect(stats.mode == "http")
        for backend in backends {
            let counted = stats.backends[backend.name]
            #expect(counted?.total == backend.seen.requests, "\(backend.name): \(String(describing: counted))")
            #expect(counted?.active == 0)
            #expect(counted?.failures == 0)
            #expect(counted?.state == .healthy)
            #expect((counted?.bytesSent ?? 0) > 0 && (counted?.bytesReceived ?? 0) > 0)
        }
        // The same counts in Prometheus's format at /metrics.
        let scrape = try await HTTPTestClient(port: try #require(proxy.adminPort), group: group)
        let metrics = try await scrape.send("/metrics")
        await scrape.close()
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"].first?.hasPrefix("text/plain; version=0.0.4") == true)
        for backend in backends {
            let labels = #"{service="web",backend="\#(backend.name)",address="\#(backend.address)"}"#
            #expect(metrics.body.contains("quorum_proxy_backend_requests_total\(labels) \(backend.seen.requests)\n"), "\(metrics.body)")
            #expect(metrics.body.contains("quorum_proxy_backend_up\(labels) 1.0\n"))
        }

        // A backend that fails its HTTP check is taken out before any request fails.
        backends[1].failHealthChecks(true)
        #expect(try await Self.poll { try await proxy.stats().backends["b"]?.state == .failingChecks })
        answers = [:]
        for round in 0..<60 {
            let reply = try await clients[round % 2].send("/")
            answers[reply.status == 200 ? reply.body : "status \(reply.status)", default: 0] += 1
        }
        #expect(Set(answers.keys) == ["a", "c"], "a request failed or went to b: \(answers)")
        #expect(abs((answers["a"] ?? 0) - 15) <= 2, "\(answers)")

        // `Connection: close` is honoured: the answer says so, and the proxy closes the client connection.
        let last = try await clients[0].send("/", headers: [("connection", "close")])
        #expect(last.headers["connection"] == ["close"])
        #expect(try await Self.poll { !clients[0].channel.isActive })

        for client in clients { await client.close() }
        try await proxy.shutdown()
        for registration in registrations { try? await registration.deregister() }
        for backend in backends { try await backend.stop() }
        try await group.shutdownGracefully()
        await client.close()
    }

    @Test("the HTTP proxy retries a GET elsewhere, drains a deregistered instance, and answers 502 with none left")
    func httpProxyDrainsAndRetries() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backends = [try await HTTPBackend(name: "a", group: group), try await HTTPBackend(name: "b", group: group)]
        var registrations: [String: ServiceRegistration] = [:]
        for backend in backends {
            registrations[backend.name] = try await client.register(
                ServiceInstance(service: "web", id: backend.name, address: backend.address))
        }
        // Nothing listens there; checks are too rare to notice, so only retries keep requests from failing.
        registrations["dead"] = try await client.register(
            ServiceInstance(service: "web", id: "dead", address: "127.0.0.1:\(try ClusterProcesses.freePort())"))
        let proxy = try await ServiceProxy(
            service: "web", host: "127.0.0.1", port: 0, endpoints: cluster.clientEndpoints, policy: .roundRobin,
            mode: .http, check: .http(path: "/healthz"), checkInterval: .seconds(60))
        let slowClient = try await HTTPTestClient(port: proxy.port, group: group)
        let fastClient = try await HTTPTestClient(port: proxy.port, group: group)

        for _ in 0..<12 { #expect(try await fastClient.send("/").status == 200) }
        #expect((try await proxy.stats().backends["dead"]?.failures ?? 0) > 0)

        // A slow request is in flight on one instance when it is deregistered.
        let slow = Task { try await slowClient.send("/slow") }
        var busy: String?
        #expect(try await Self.poll {
            busy = try await proxy.stats().backends.first { $0.value.active == 1 }?.key
            return busy != nil
        })
        let draining = try #require(busy)
        try await registrations[draining]?.deregister()
        #expect(try await Self.poll { try await proxy.stats().backends[draining]?.state == .draining })
        for _ in 0..<20 {
            let reply = try await fastClient.send("/")
            #expect(reply.status == 200)
            #expect(reply.body != draining, "a new request went to the draining instance")
        }
        let slowReply = try await slow.value
        #expect(slowReply.status == 200)
        #expect(slowReply.body == draining)
        // Drained: gone from the stats, and its pooled connection closed once the response was done.
        let drainedBackend = try #require(backends.first { $0.name == draining })
        #expect(try await Self.poll { try await proxy.stats().backends[draining] == nil })
        #expect(try await Self.poll { drainedBackend.seen.connectionsOpen == 0 })

        // With no instance left, a request gets a short 502.
        for (name, registration) in registrations where name != draining { try await registration.deregister() }
        var lastStatus = 0
        #expect(try await Self.poll {
            lastStatus = try await fastClient.send("/").status
            return lastStatus == 502
        })

        await slowClient.close()
        await fastClient.close()
        try await proxy.shutdown()
        for backend in backends { try await backend.stop() }
        try await group.shutdownGracefully()
        await client.close()
    }

    @Test("the TCP proxy drains a deregistered instance: its open connection keeps working, new ones go elsewhere")
    func tcpProxyDrains() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backends = [try await HTTPBackend(name: "a", group: group), try await HTTPBackend(name: "b", group: group)]
        var registrations: [String: ServiceRegistration] = [:]
        for backend in backends {
            registrations[backend.name] = try await client.register(
                ServiceInstance(service: "tcp", id: backend.name, address: backend.address))
        }
        let proxy = try await ServiceProxy(
            service: "tcp", host: "127.0.0.1", port: 0, endpoints: cluster.clientEndpoints, policy: .roundRobin,
            checkInterval: .milliseconds(50), adminPort: 0)
        let held = try await HTTPTestClient(port: proxy.port, group: group)
        let first = try await held.send("/")
        #expect(first.status == 200)
        let draining = first.body
        try await registrations[draining]?.deregister()
        #expect(try await Self.poll { try await proxy.stats().backends[draining]?.state == .draining })

        // The connection joined before the deregistration still reaches the same instance.
        for _ in 0..<5 { #expect(try await held.send("/").body == draining) }
        for _ in 0..<6 {
            let other = try await HTTPTestClient(port: proxy.port, group: group)
            #expect(try await other.send("/").body != draining, "a new connection went to the draining instance")
            await other.close()
        }
        // In TCP mode a connection is the unit: one, with the bytes of six exchanges, until it closes.
        let stats = try await Self.adminStats(port: proxy.adminPort, group: group)
        #expect(stats.mode == "tcp")
        #expect(stats.backends[draining]?.active == 1)
        #expect((stats.backends[draining]?.bytesReceived ?? 0) > 0)
        await held.close()
        #expect(try await Self.poll { try await proxy.stats().backends[draining] == nil })

        try await proxy.shutdown()
        for (name, registration) in registrations where name != draining { try? await registration.deregister() }
        for backend in backends { try await backend.stop() }
        try await group.shutdownGracefully()
        await client.close()
    }

    @Test("a backend killed mid-run costs no request, and once restarted comes back through slow start, then gets its full share")
    func httpProxySlowStart() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // b restarts on its port: one below the ephemeral range, so no outgoing connection takes it meanwhile.
        let portOfB = try ClusterProcesses.freePort()
        var backends = [
            try await HTTPBackend(name: "a", group: group), try await HTTPBackend(name: "b", group: group, port: portOfB),
        ]
        var registrations: [ServiceRegistration] = []
        for backend in backends {
            registrations.append(
                try await client.register(ServiceInstance(service: "web", id: backend.name, address: backend.address)))
        }
        let window = Duration.seconds(4)
        let started = ContinuousClock.now
        let proxy = try await ServiceProxy(
            service: "web", host: "127.0.0.1", port: 0, endpoints: cluster.clientEndpoints, policy: .weighted,
            mode: .http, check: .http(path: "/healthz"), checkInterval: .milliseconds(50),
            slowStart: .seconds(window.components.seconds))
        let proxyClient = try await HTTPTestClient(port: proxy.port, group: group)
        func shares(of requests: Int) async throws -> [String: Int] {
            var answers: [String: Int] = [:]
            for _ in 0..<requests {
                let reply = try await proxyClient.send("/")
                answers[reply.status == 200 ? reply.body : "status \(reply.status)", default: 0] += 1
            }
            return answers
        }

        // b is killed mid-run, its pooled connections with it: GETs that meet them are retried on a, so none
        // fails, and b is taken out. It stays down until a has finished the ramp every instance starts with.
        #expect((try await shares(of: 10))["b"] != nil)
        try await backends[1].kill()
        let duringKill = try await shares(of: 20)
        #expect(duringKill == ["a": 20], "\(duringKill)")
        #expect(try await Self.poll { try await proxy.stats().backends["b"]?.state != .healthy })
        try await Task.sleep(until: started + window, clock: .continuous)
        backends[1] = try await HTTPBackend(name: "b", group: group, port: portOfB)
        #expect(try await Self.poll { try await proxy.stats().backends["b"]?.state == .healthy })

        // Right after it returns, b starts at 10% of its weight: far below the half it will get.
        let early = try await shares(of: 20)
        #expect(early["status 502"] == nil && early["status 503"] == nil, "\(early)")
        #expect((early["b"] ?? 0) <= 6, "b got its full share at once: \(early)")
        // Once the window has passed, it gets its full weight again.
        var late: [String: Int] = [:]
        #expect(
            try await Self.poll {
                late = try await shares(of: 20)
                return (late["b"] ?? 0) >= 9
            }, "b never got back to its share: \(late)")

        await proxyClient.close()
        try await proxy.shutdown()
        for registration in registrations { try? await registration.deregister() }
        for backend in backends { try await backend.stop() }
        try await group.shutdownGracefully()
        await client.close()
    }

    /// `GET /stats` from a proxy's admin endpoint.
    static func adminStats(port: Int?, group: any EventLoopGroup) async throws -> ProxyStats {
        let admin = try await HTTPTestClient(port: try #require(port), group: group)
        let reply = try await admin.send("/stats")
        await admin.close()
        #expect(reply.status == 200)
        return try JSONDecoder().decode(ProxyStats.self, from: Data(reply.body.utf8))
    }
}
