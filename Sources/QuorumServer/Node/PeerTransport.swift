import Logging
import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumNode
import QuorumWire

/// The node's connections to its peers: one long-lived outbound connection per peer, shared by every group,
/// reconnecting with backoff. Messages for an unreachable peer are dropped: Raft retries what matters.
///
/// Groups hand their messages over as they produce them; the transport sends them when the event-loop turn ends,
/// all of a turn's messages for one peer in one frame, whatever their groups (`PeerMessages`).
final class PeerTransport: @unchecked Sendable {
    // @unchecked Sendable: every method runs on `loop` (asserted), so the mutable state is never shared.
    private let loop: any EventLoop
    /// Where a peer listens: the founding list, then the replicated address book (set by the host).
    var addressOf: (NodeID) -> MemberAddress? = { _ in nil }
    private let frameBytesMax: Int
    private let tls: PeerTLS?
    /// Who this node is, of which cluster, and where it serves Redis and HTTP: the first frame on every connection.
    var hello: PeerHello
    private var peers: [NodeID: Peer] = [:]
    /// This turn's messages, per peer and group, until `sendOutbox()` runs at the end of the turn.
    private var outbox: [NodeID: [GroupID: [Message]]] = [:]
    private var outboxScheduled = false
    /// Peers sent a batch since the last `sendLiveness`: the batch proved this node alive to them already.
    private var sentSinceLiveness: Set<NodeID> = []

    private struct Peer {
        var channel: (any Channel)?
        var connecting = false
        var backoffMilliseconds: Int64 = 50
    }

    init(loop: any EventLoop, frameBytesMax: Int, hello: PeerHello, tls: PeerTLS? = nil) {
        self.loop = loop
        self.hello = hello
        self.frameBytesMax = frameBytesMax
        self.tls = tls
    }

    /// Queues `messages` of `group` for the end of this event-loop turn.
    func send(_ messages: [Message], group: GroupID) {
        loop.preconditionInEventLoop()
        guard !messages.isEmpty else { return }
        for message in messages { outbox[message.to, default: [:]][group, default: []].append(message) }
        guard !outboxScheduled else { return }
        outboxScheduled = true
        // Runs after the tasks already queued on the loop, so everything this turn produces goes in one frame.
        loop.execute { self.sendOutbox() }
    }

    /// Sends this turn's messages now: one frame per peer. The host calls it when it ends the turn; otherwise it runs
    /// on its own at the end of the turn.
    func sendOutbox() {
        loop.preconditionInEventLoop()
        outboxScheduled = false
        let outbox = self.outbox
        self.outbox.removeAll(keepingCapacity: true)
        for (peer, groups) in outbox {
            let batch = PeerMessages(
                groups: groups.keys.sorted().map { PeerMessages.GroupMessages(group: $0, messages: groups[$0]!) })
            send(batch.frame, to: peer)
            sentSinceLiveness.insert(peer)
        }
    }

    /// Proves this node alive to each of `peers` that was sent nothing since the last call: an empty batch, the
    /// node-level heartbeat that replaces the heartbeats of quiescent groups.
    func sendLiveness(to peers: Set<NodeID>) {
        loop.preconditionInEventLoop()
        for peer in peers.subtracting(sentSinceLiveness) { send(PeerMessages(groups: []).frame, to: peer) }
        sentSinceLiveness.removeAll(keepingCapacity: true)
    }

    /// Sends one frame to `peer`, or drops it and starts connecting if there is no connection yet.
    func send(_ frame: Frame, to peer: NodeID) {
        loop.preconditionInEventLoop()
        guard let channel = peers[peer]?.channel else { return connect(to: peer) }
        for part in FrameParts.split(frame, frameBytesMax: frameBytesMax) { channel.write(part, promise: nil) }
        channel.flush()
    }

    /// Sends `frame` to `peer` only if its connection takes more without buffering: for what may be lost (a
    /// publication), so that a slow or dead peer costs no memory. Whether it was sent.
    func sendIfWritable(_ frame: Frame, to peer: NodeID) -> Bool {
        loop.preconditionInEventLoop()
        guard let channel = peers[peer]?.channel else {
            connect(to: peer)
            return false
        }
        guard channel.isWritable else { return false }
        send(frame, to: peer)
        return true
    }

    func close() {
        for peer in peers.values { peer.channel?.close(promise: nil) }
    }

    private func connect(to peer: NodeID) {
        guard let address = addressOf(peer), peers[peer]?.connecting != true else { return }
        peers[peer, default: Peer()].connecting = true
        let hello = hello.frame
        let (frameBytesMax, tls) = (frameBytesMax, tls)
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try tls.clientHandler(dialling: peer)) }
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

/// One group's view of the node's peer connections: the driver's `MessageTransport`.
final class GroupTransport: MessageTransport {
    private let group: GroupID
    private let peers: PeerTransport
    private let logger: Logger

    init(group: GroupID, peers: PeerTransport, logger: Logger) {
        self.group = group
        self.peers = peers
        self.logger = logger
    }

    func send(_ messages: [Message]) {
        // A snapshot can take a while to reach a new or lagging member: the operator sees that it is under way.
        for message in messages {
            guard let snapshot = message.payload.snapshot else { continue }
            let (index, bytes) = (snapshot.lastIncludedIndex.rawValue, snapshot.data.count)
            logger.info("sending node \(message.to.rawValue) the snapshot through index \(index) (\(bytes) bytes)")
        }
        peers.send(messages, group: group)
    }
}
