import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumNode
import QuorumWire

/// Sends consensus messages to peers over one long-lived outbound connection each, reconnecting with backoff.
/// Messages for an unreachable peer are dropped: Raft retries what matters.
final class PeerTransport: MessageTransport, @unchecked Sendable {
    // @unchecked Sendable: every method runs on `loop` (asserted), so the mutable state is never shared.
    private let loop: any EventLoop
    private let node: NodeID
    private let group: GroupID
    /// Where a peer listens: the founding list, then the replicated address book (set by the runtime).
    var addressOf: (NodeID) -> MemberAddress?
    private let frameBytesMax: Int
    /// Who this node is, of which cluster, and where it serves Redis and HTTP: the first frame on every connection.
    var hello: PeerHello
    private var peers: [NodeID: Peer] = [:]

    private struct Peer {
        var channel: (any Channel)?
        var connecting = false
        var backoffMilliseconds: Int64 = 50
    }

    init(
        loop: any EventLoop, node: NodeID, group: GroupID, members: [NodeID: MemberAddress], frameBytesMax: Int,
        hello: PeerHello
    ) {
        self.loop = loop
        self.hello = hello
        self.node = node
        self.group = group
        self.addressOf = { members[$0] }
        self.frameBytesMax = frameBytesMax
    }

    func send(_ messages: [Message]) {
        loop.preconditionInEventLoop()
        var batches: [NodeID: [Message]] = [:]
        for message in messages { batches[message.to, default: []].append(message) }
        for (peer, batch) in batches { send(PeerMessages(group: group, messages: batch).frame, to: peer) }
    }

    /// Sends one frame to `peer`, or drops it and starts connecting if there is no connection yet.
    func send(_ frame: Frame, to peer: NodeID) {
        loop.preconditionInEventLoop()
        guard let channel = peers[peer]?.channel else { return connect(to: peer) }
        for part in FrameParts.split(frame, frameBytesMax: frameBytesMax) { channel.write(part, promise: nil) }
        channel.flush()
    }

    func close() {
        for peer in peers.values { peer.channel?.close(promise: nil) }
    }

    private func connect(to peer: NodeID) {
        guard let address = addressOf(peer), peers[peer]?.connecting != true else { return }
        peers[peer, default: Peer()].connecting = true
        let hello = hello.frame
        let frameBytesMax = frameBytesMax
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Peers never answer on this connection; their messages come back on their own.
                    try channel.pipeline.syncOperations.addFrameHandlers(
                        frameBytesMax: frameBytesMax, then: DiscardingHandler())
                }
            }
            .connect(host: address.host, port: address.peerPort)
            .whenComplete { result in self.connected(peer, result, hello: hello) }
    }

    private func connected(_ peer: NodeID, _ result: Result<any Channel, any Error>, hello: Frame) {
        loop.preconditionInEventLoop()
        peers[peer]!.connecting = false
        switch result {
        case .success(let channel):
            peers[peer]!.channel = channel
            peers[peer]!.backoffMilliseconds = 50
            channel.writeAndFlush(hello, promise: nil)
            channel.closeFuture.whenComplete { _ in
                self.loop.execute { self.peers[peer]!.channel = nil }
            }
        case .failure:
            let backoff = peers[peer]!.backoffMilliseconds
            peers[peer]!.backoffMilliseconds = min(backoff * 2, 2_000)
            peers[peer]!.connecting = true
            loop.scheduleTask(in: .milliseconds(backoff)) {
                self.peers[peer]!.connecting = false
                self.connect(to: peer)
            }
        }
    }
}

/// Drops anything a peer sends on an outbound connection; closes it on error so it is reopened.
final class DiscardingHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
