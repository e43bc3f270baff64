import NIOCore
import Prometheus
import Synchronization

/// Admits at most `limit` connections to one port at a time; the next are told why, then closed, and counted. As
/// Redis's `maxclients`, so that a connection flood costs the node a bounded number of sockets and buffers.
final class ConnectionGate: Sendable {
    let limit: Int
    private let open = Mutex(0)
    private let refused: Counter
    /// What a refused connection is sent before it is closed (nothing for ports without a way to say it).
    private let refusal: [UInt8]

    init(limit: Int, refused: Counter, refusal: [UInt8] = []) {
        self.limit = limit
        self.refused = refused
        self.refusal = refusal
    }

    /// The first handler of a connection's pipeline.
    func handler() -> Handler { Handler(gate: self) }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        private let gate: ConnectionGate
        private var admitted = false
        /// Admitted, then no longer counted (`leave()`).
        private var left = false

        init(gate: ConnectionGate) { self.gate = gate }

        func channelActive(context: ChannelHandlerContext) {
            let admit = gate.open.withLock { open in
                guard open < gate.limit else { return false }
                open += 1
                return true
            }
            guard admit else {
                gate.refused.increment()
                if !gate.refusal.isEmpty {
                    context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: gate.refusal)), promise: nil)
                }
                context.close(promise: nil)
                return
            }
            admitted = true
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            leave()
            context.fireChannelInactive()
        }

        /// Stops counting this connection against the gate while it stays open (a peer that proved who it is).
        func leave() {
            guard admitted else { return }
            admitted = false
            left = true
            gate.open.withLock { $0 -= 1 }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            // A refused connection's bytes go nowhere while it closes.
            guard admitted || left else { return }
            context.fireChannelRead(data)
        }
    }
}
