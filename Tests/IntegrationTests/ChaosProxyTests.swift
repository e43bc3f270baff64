import Foundation
import NIOCore
import NIOPosix
import QuorumChaos
import QuorumSimulation
import Synchronization
import Testing

/// The fault-injecting proxy on its own, in front of an echo server: each fault does to the bytes what it says, and
/// only on the link it is set on.
@Suite struct ChaosProxyTests {
    /// How many bytes the echo server has read.
    final class Tally: Sendable {
        let bytes = Mutex(0)
    }

    final class EchoHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let tally: Tally
        init(tally: Tally) { self.tally = tally }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let count = unwrapInboundIn(data).readableBytes
            tally.bytes.withLock { $0 += count }
            context.writeAndFlush(data, promise: nil)
        }
    }

    /// An echo server and a proxy with links 1→2 and 3→2 to it.
    static func withProxy(_ body: (ChaosProxy, Tally) async throws -> Void) async throws {
        let tally = Tally()
        let echo = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(tally: tally))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(echo.localAddress?.port)
        let proxy = try await ChaosProxy.start(
            targets: [Link(from: 1, to: 2): port, Link(from: 3, to: 2): port], seed: 1)
        do {
            try await body(proxy, tally)
        } catch {
            await proxy.stop()
            try await echo.close()
            throw error
        }
        await proxy.stop()
        try await echo.close()
    }

    static func connect(_ proxy: ChaosProxy, _ link: Link) async throws -> BlockingSocket {
        let port = try await proxy.port(of: link)
        return try await offConcurrencyPool { try BlockingSocket(port: port) }
    }

    @Test("a healthy link relays bytes both ways")
    func healthyLinkRelays() async throws {
        try await Self.withProxy { proxy, _ in
            let socket = try await Self.connect(proxy, Link(from: 1, to: 2))
            defer { socket.close() }
            #expect(
                try await offConcurrencyPool {
                    try socket.send("ping"); return try socket.receive(count: 4)
                } == "ping")
        }
    }

    @Test("a dropping cut closes the link's open connections and new ones, and not another link's")
    func dropCutClosesConnections() async throws {
        try await Self.withProxy { proxy, _ in
            let cut = try await Self.connect(proxy, Link(from: 1, to: 2))
            defer { cut.close() }
            let other = try await Self.connect(proxy, Link(from: 3, to: 2))
            defer { other.close() }
            #expect(
                try await offConcurrencyPool {
                    try cut.send("a"); return try cut.receive(count: 1)
                } == "a")
            await proxy.set(LinkFaults(cut: .drop), on: Link(from: 1, to: 2))
            #expect(try await offConcurrencyPool { try cut.readUntilClosed() } == "")
            let again = try await Self.connect(proxy, Link(from: 1, to: 2))
            defer { again.close() }
            #expect(try await offConcurrencyPool { try again.readUntilClosed() } == "")
            #expect(
                try await offConcurrencyPool {
                    try other.send("b"); return try other.receive(count: 1)
                } == "b")
            #expect(await proxy.counters.cut == 2)
        }
    }

    @Test("a holding cut keeps the connection open and delivers nothing until it heals")
    func holdingCutDeliversLate() async throws {
        try await Self.withProxy { proxy, tally in
            let socket = try await Self.connect(proxy, Link(from: 1, to: 2))
            defer { socket.close() }
            #expect(
                try await offConcurrencyPool {
                    try socket.send("a"); return try socket.receive(count: 1)
                } == "a")
            await proxy.set(LinkFaults(cut: .hold), on: Link(from: 1, to: 2))
            try await offConcurrencyPool { try socket.send("held") }
            // Nothing can announce that bytes did not arrive; a quarter second is many event-loop turns.
            try await Task.sleep(for: .milliseconds(250))
            #expect(tally.bytes.withLock { $0 } == 1)
            await proxy.set(LinkFaults(), on: Link(from: 1, to: 2))
            #expect(try await offConcurrencyPool { try socket.receive(count: 4) } == "held")
            #expect(tally.bytes.withLock { $0 } == 5)
        }
    }

    @Test("delay and a bandwidth limit make bytes arrive no sooner than they allow")
    func delayAndBandwidthSlowTheLink() async throws {
        try await Self.withProxy { proxy, _ in
            let socket = try await Self.connect(proxy, Link(from: 1, to: 2))
            defer { socket.close() }
            await proxy.set(LinkFaults(delayMilliseconds: 200), on: Link(from: 1, to: 2))
            let clock = ContinuousClock()
            var start = clock.now
            #expect(
                try await offConcurrencyPool {
                    try socket.send("late"); return try socket.receive(count: 4)
                } == "late")
            #expect(start.duration(to: clock.now) >= .milliseconds(200))
            await proxy.set(LinkFaults(bytesPerSecond: 4_000), on: Link(from: 1, to: 2))
            let text = String(repeating: "x", count: 1_000)
            start = clock.now
            #expect(
                try await offConcurrencyPool {
                    try socket.send(text); return try socket.receive(count: 1_000)
                } == text)
            #expect(start.duration(to: clock.now) >= .milliseconds(250))
            #expect(await proxy.counters.slowed >= 2)
        }
    }

    @Test("random drops close connections of the link at the rate set")
    func randomDropsCloseConnections() async throws {
        try await Self.withProxy { proxy, _ in
            await proxy.set(LinkFaults(dropPerMille: 1_000), on: Link(from: 1, to: 2))
            let socket = try await Self.connect(proxy, Link(from: 1, to: 2))
            defer { socket.close() }
            #expect(
                try await offConcurrencyPool {
                    try socket.send("gone"); return try socket.readUntilClosed()
                } == "")
            #expect(await proxy.counters.randomlyDropped == 1)
        }
    }
}

@Test("a fault schedule is fixed by its seed and injects every kind of fault within the suite's short run")
func faultScheduleCoversEveryKind() {
    for seed in UInt64(1)...50 {
        let schedule = FaultSchedule.generate(seed: seed, nodes: 3, durationMilliseconds: 32_000)
        #expect(schedule == FaultSchedule.generate(seed: seed, nodes: 3, durationMilliseconds: 32_000))
        #expect(Set(schedule.faults.map(\.kind)) == Set(FaultKind.allCases), "seed \(seed)")
        for fault in schedule.faults where fault.kind == .oneWayPartition {
            #expect(fault.peer != nil && fault.peer != fault.node)
        }
    }
}

@Test("a saved chaos record loads back as it was, so a failing run replays its exact schedule")
func chaosRecordRoundTrips() throws {
    var options = ChaosOptions(seed: 9, durationSeconds: 30)
    options.faultKinds = [.kill, .oneWayPartition]
    let schedule = FaultSchedule.generate(seed: 9, nodes: 5, durationMilliseconds: 20_000, kinds: options.faultKinds)
    let history = [
        HistoryOperation(client: 0, key: "k", operation: .put(1), invokedAt: 5, completedAt: 9, result: .ok),
        HistoryOperation(
            client: 1, key: "k", operation: .compareAndSet(expected: nil, new: 2), invokedAt: 6, completedAt: nil,
            result: nil),
        HistoryOperation(client: 2, key: "k", operation: .get, invokedAt: 10, completedAt: 12, result: .value(1)),
    ]
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-record-\(UUID().uuidString).json")
        .path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try ChaosRecord(options: options, schedule: schedule, history: history).save(to: path)
    let loaded = try ChaosRecord.load(from: path)
    #expect(loaded.options == options)
    #expect(loaded.schedule == schedule)
    #expect(loaded.history == history)
}
