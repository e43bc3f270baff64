import NIOCore
import NIOPosix
import QuorumClient
import QuorumProxy
import Testing

/// A backend that answers every connection with its name and closes it.
private final class NamedBackend: Sendable {
    let name: String
    let channel: any Channel

    init(name: String, group: any EventLoopGroup) async throws {
        self.name = name
        let greeting = name
        channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var buffer = channel.allocator.buffer(capacity: greeting.utf8.count)
                    buffer.writeString(greeting)
                    channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var address: String { "127.0.0.1:\(channel.localAddress!.port!)" }
}

/// Connects through the proxy and returns what the backend said, nil if the connection carried nothing, or
/// "still open" if the proxy neither answered nor closed within 20 seconds.
private func ask(port: Int, group: any EventLoopGroup) async throws -> String? {
    let collector = Collector()
    let channel = try await ClientBootstrap(group: group)
        .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) } }
        .connect(host: "127.0.0.1", port: port).get()
    guard try await Patience.peerCloses(channel, within: 20) else { return "still open" }
    return try await channel.eventLoop.submit { collector.received.isEmpty ? nil : collector.received }.get()
}

private final class Collector: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: touched only on its channel's event loop.
    typealias InboundIn = ByteBuffer
    var received = ""
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readString(length: buffer.readableBytes) ?? ""
    }
}

extension ClusterTests {
    @Test("the proxy balances by weight over registered instances, skips a dead one, and follows the registry")
    func proxyBalancesOverTheRegistry() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backends = [
            try await NamedBackend(name: "a", group: group), try await NamedBackend(name: "b", group: group),
            try await NamedBackend(name: "c", group: group),
        ]
        var registrations: [ServiceRegistration] = []
        for (backend, weight) in zip(backends, [1, 2, 3]) {
            registrations.append(
                try await client.register(ServiceInstance(service: "echo", id: backend.name, address: backend.address, weight: weight)))
        }
        let proxy = try await ServiceProxy(
            service: "echo", host: "127.0.0.1", port: 0, endpoints: cluster.clientEndpoints, policy: .weighted,
            checkInterval: .milliseconds(50))

        // Smooth weighted round-robin: exactly the weights' proportions over whole periods.
        var answers: [String: Int] = [:]
        for _ in 0..<60 { answers[try await ask(port: proxy.port, group: group) ?? "none", default: 0] += 1 }
        #expect(answers == ["a": 10, "b": 20, "c": 30])

        // A backend that dies is taken out by the active checks alone, before any connection is sent to it.
        try await backends[2].channel.close()
        var stillEligible = true
        for _ in 0..<200 where stillEligible {
            stillEligible = try await proxy.eligibleInstances().contains("c")
            if stillEligible { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(!stillEligible, "active checks never took the dead backend out")
        #expect(try await proxy.eligibleInstances() == ["a", "b"])
        let picksOfC = try await proxy.stats().backends["c"]?.total
        answers = [:]
        for _ in 0..<30 { answers[try await ask(port: proxy.port, group: group) ?? "none", default: 0] += 1 }
        #expect(answers["none"] == nil, "a request failed: \(answers)")
        #expect(answers["c"] == nil)
        #expect(try await proxy.stats().backends["c"]?.total == picksOfC, "connections were still sent to the dead backend")

        // Deregistering an instance reaches the proxy through its watch, without a restart.
        try await registrations[0].deregister()
        var sawA = true
        for _ in 0..<100 where sawA {
            var round: [String: Int] = [:]
            for _ in 0..<6 { round[try await ask(port: proxy.port, group: group) ?? "none", default: 0] += 1 }
            sawA = round["a"] != nil
        }
        #expect(!sawA, "the proxy kept sending to a deregistered instance")

        // With only the dead instance left, a connection is given up after three tries and closed, not retried on
        // it forever.
        try await registrations[1].deregister()
        #expect(try await Self.poll { try await proxy.stats().backends["b"] == nil })
        #expect(try await ask(port: proxy.port, group: group) == nil)
        #expect(try await proxy.stats().backends["c"]?.active == 0)

        try await proxy.shutdown()
        try? await registrations[2].deregister()
        try await group.shutdownGracefully()
        await client.close()
    }
}
