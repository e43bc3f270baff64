import DequeModule
import NIOCore
import NIOPosix
import QuorumConsensus

/// A TCP proxy on 127.0.0.1 with one listener per directed peer link, each relaying to the real peer port of the
/// link's target, and faults set per link while it runs (`LinkFaults`). Node `from` is told the listener of
/// `from→to` as `to`'s peer address, so everything it sends to `to` passes here.
///
/// All of its state lives on one event loop; the public methods hop onto it.
public final class ChaosProxy: @unchecked Sendable {
    // @unchecked Sendable: every stored property is read and written on `loop` only.
    let loop: any EventLoop
    private var listeners: [Link: any Channel] = [:]
    private var targets: [Link: Int] = [:]
    private var faults: [Link: LinkFaults] = [:]
    private var relays: [Link: [ObjectIdentifier: Relay]] = [:]
    private var random: SplitMix64
    private var tally = Counters()

    /// What the proxy did, for telling that a fault did bite.
    public struct Counters: Hashable, Sendable {
        /// Connections closed at random by `dropPerMille`, and of them, the clients' connections (`Link.clients`).
        public var randomlyDropped = 0
        public var clientConnectionsDropped = 0
        /// Connections closed, or refused on arrival, by a `.drop` cut.
        public var cut = 0
        /// Chunks that waited for a delay or a bandwidth limit.
        public var slowed = 0
    }

    private init(loop: any EventLoop, seed: UInt64) {
        self.loop = loop
        self.random = SplitMix64(seed: seed)
    }

    /// Listens for every link in `targets` (link → the target's real peer port); `seed` decides the random drops.
    public static func start(
        targets: [Link: Int], seed: UInt64, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ChaosProxy {
        let proxy = ChaosProxy(loop: group.next(), seed: seed)
        do {
            for (link, port) in targets.sorted(by: { ($0.key.from, $0.key.to) < ($1.key.from, $1.key.to) }) {
                try await proxy.listen(for: link, target: port)
            }
        } catch {
            await proxy.stop()
            throw error
        }
        return proxy
    }

    /// Listens for `link`, relaying to `target`, the real peer port of the link's target.
    func listen(for link: Link, target: Int) async throws {
        let listener = try await ServerBootstrap(group: loop)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try self.accepted(channel, on: link) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        try await loop.submit {
            self.listeners[link] = listener
            self.targets[link] = target
        }.get()
    }

    /// Where node `link.from` must believe node `link.to` listens for peers.
    public func port(of link: Link) async throws -> Int {
        try await loop.submit {
            guard let port = self.listeners[link]?.localAddress?.port else { throw UnknownLink(link: link) }
            return port
        }.get()
    }

    struct UnknownLink: Error, CustomStringConvertible {
        var link: Link
        var description: String { "the proxy has no listener for link \(link)" }
    }

    /// Sets what `link` does from now on, to its open connections as well as to new ones.
    public func set(_ linkFaults: LinkFaults, on link: Link) async {
        try? await loop.submit {
            self.faults[link] = linkFaults
            for relay in self.relays[link, default: [:]].values {
                if linkFaults.cut == .drop {
                    self.tally.cut += 1
                    relay.close()
                } else {
                    relay.updateReading()
                }
            }
        }.get()
    }

    /// Every link healthy again.
    public func healAll() async {
        let links = (try? await loop.submit { Array(self.faults.keys) }.get()) ?? []
        for link in links { await set(LinkFaults(), on: link) }
    }

    public var counters: Counters {
        get async { (try? await loop.submit { self.tally }.get()) ?? Counters() }
    }

    public func stop() async {
        let channels =
            (try? await loop.submit { () -> [any Channel] in
                let relays = self.relays.values.flatMap(\.values)
                for relay in relays { relay.close() }
                return Array(self.listeners.values)
            }.get()) ?? []
        for channel in channels { try? await channel.close() }
    }

    // MARK: On the loop

    private func accepted(_ inbound: any Channel, on link: Link) throws {
        loop.preconditionInEventLoop()
        if faults[link]?.cut == .drop {
            tally.cut += 1
            inbound.close(promise: nil)
            return
        }
        guard let target = targets[link] else { return inbound.close(promise: nil) }
        let relay = Relay(proxy: self, link: link, inbound: inbound)
        relays[link, default: [:]][ObjectIdentifier(relay)] = relay
        try inbound.pipeline.syncOperations.addHandler(RelayHandler(relay: relay, side: .inbound))
        inbound.closeFuture.whenComplete { _ in self.ended(relay) }
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RelayHandler(relay: relay, side: .outbound))
                }
            }
            .connect(host: "127.0.0.1", port: target)
            .whenComplete { result in
                switch result {
                case .success(let outbound):
                    relay.connected(outbound)
                    outbound.closeFuture.whenComplete { _ in relay.close() }
                case .failure:
                    relay.close()
                }
            }
    }

    private func ended(_ relay: Relay) {
        relay.close()
        relays[relay.link]?[ObjectIdentifier(relay)] = nil
    }

    fileprivate func linkFaults(_ link: Link) -> LinkFaults { faults[link] ?? LinkFaults() }

    /// Whether a chunk on `link` should close its connection now.
    fileprivate func drawsDrop(on link: Link) -> Bool {
        let perMille = linkFaults(link).dropPerMille
        guard perMille > 0, random.next() % 1000 < UInt64(perMille) else { return false }
        tally.randomlyDropped += 1
        if link.isClients { tally.clientConnectionsDropped += 1 }
        return true
    }

    fileprivate func countSlowed() { tally.slowed += 1 }
}

/// One relayed connection: what the link's sender wrote (`inbound`) goes to the target (`outbound`) through the
/// link's faults; anything the target writes back goes straight back.
final class Relay: @unchecked Sendable {
    // @unchecked Sendable: used on the proxy's loop only.
    private unowned let proxy: ChaosProxy
    let link: Link
    private let inbound: any Channel
    private var outbound: (any Channel)?
    /// Chunks waiting for their release time, in the order they came.
    private var waiting: Deque<(release: NIODeadline, bytes: ByteBuffer)> = []
    private var waitingBytes = 0
    private var lastRelease = NIODeadline.uptimeNanoseconds(0)
    private var closed = false
    /// Past this, the sender is not read until the link drains: a slow link holds a bounded amount.
    private static let waitingBytesMax = 4 << 20

    init(proxy: ChaosProxy, link: Link, inbound: any Channel) {
        self.proxy = proxy
        self.link = link
        self.inbound = inbound
    }

    func connected(_ channel: any Channel) {
        guard !closed else { return channel.close(promise: nil) }
        outbound = channel
        updateReading()
    }

    /// Reads from the sender unless the link holds its bytes, the target is not connected yet, or too much waits.
    func updateReading() {
        guard !closed else { return }
        let reading = outbound != nil && proxy.linkFaults(link).cut == .none && waitingBytes < Self.waitingBytesMax
        inbound.setOption(ChannelOptions.autoRead, value: reading).whenSuccess {
            if reading { self.inbound.read() }
        }
    }

    func fromSender(_ bytes: ByteBuffer) {
        guard !closed, let outbound else { return }
        if proxy.drawsDrop(on: link) { return close() }
        let faults = proxy.linkFaults(link)
        let now = NIODeadline.now()
        var release = now + .milliseconds(Int64(faults.delayMilliseconds))
        if let rate = faults.bytesPerSecond, rate > 0 {
            let transmission = TimeAmount.nanoseconds(Int64(bytes.readableBytes) * 1_000_000_000 / Int64(rate))
            release = max(release, lastRelease) + transmission
        }
        release = max(release, lastRelease)
        lastRelease = release
        if release <= now && waiting.isEmpty {
            outbound.writeAndFlush(bytes, promise: nil)
            return
        }
        proxy.countSlowed()
        waiting.append((release, bytes))
        waitingBytes += bytes.readableBytes
        if waitingBytes >= Self.waitingBytesMax { updateReading() }
        inbound.eventLoop.scheduleTask(deadline: release) { self.releaseDue() }
    }

    private func releaseDue() {
        guard !closed, let outbound else { return }
        let now = NIODeadline.now()
        var wrote = false
        while let first = waiting.first, first.release <= now {
            waiting.removeFirst()
            waitingBytes -= first.bytes.readableBytes
            outbound.write(first.bytes, promise: nil)
            wrote = true
        }
        if wrote {
            outbound.flush()
            updateReading()
        }
    }

    func fromTarget(_ bytes: ByteBuffer) {
        guard !closed else { return }
        inbound.writeAndFlush(bytes, promise: nil)
    }

    func close() {
        guard !closed else { return }
        closed = true
        waiting.removeAll()
        inbound.close(promise: nil)
        outbound?.close(promise: nil)
    }
}

/// Hands a relayed connection's bytes to its `Relay`.
final class RelayHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    enum Side { case inbound, outbound }

    private let relay: Relay
    private let side: Side

    init(relay: Relay, side: Side) {
        self.relay = relay
        self.side = side
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch side {
        case .inbound: relay.fromSender(bytes)
        case .outbound: relay.fromTarget(bytes)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        relay.close()
    }
}
