import NIOCore

/// Carries work from one event loop to another in one hop per turn of the sending loop, not one per item: a hop to
/// another thread may have to wake it, and with fifty busy connections that wake-up, not the work, was the cost.
/// Items keep their order.
final class LoopCourier: @unchecked Sendable {
    // @unchecked Sendable: `pending` is touched only on `from`; the batch is handed to `to` by `execute`.
    private let from: any EventLoop
    private let to: any EventLoop
    private var pending: [@Sendable () -> Void] = []

    init(from: any EventLoop, to: any EventLoop) {
        self.from = from
        self.to = to
    }

    /// Runs `work` on the receiving loop, after everything sent before it. Call on the sending loop.
    func send(_ work: @escaping @Sendable () -> Void) {
        from.assertInEventLoop()
        pending.append(work)
        // The sending loop runs this after the rest of its turn's events, which may send more.
        if pending.count == 1 { from.execute { self.dispatch() } }
    }

    private func dispatch() {
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        to.execute {
            for work in batch { work() }
        }
    }
}
