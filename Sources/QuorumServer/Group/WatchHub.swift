import NIOCore
import QuorumStore
import QuorumWire

/// Streams applied changes to the clients watching them. Every node serves watches from its own applied state.
///
/// A watcher that cannot keep up (its connection's outbound buffer above NIO's high-water mark) is ended with the
/// revision to resume from, rather than buffered without bound or allowed to slow the apply path.
final class WatchHub: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop (by the state machine and the client handler).
    private struct Watcher {
        var key: [UInt8]
        var rangeEnd: [UInt8]?
        /// Events below it are not this watcher's: it asked to start later (a revision this node has not applied
        /// yet, as when a client read the revision on the leader and watches on a follower that lags).
        var startRevision: Revision
        var channel: any Channel
        var requestID: UInt64
    }

    private struct WatcherID: Hashable {
        var channel: ObjectIdentifier
        var requestID: UInt64
    }

    /// History is sent in batches of this many events, so that resuming from long ago does not build one
    /// huge frame.
    static let batchEventsMax = 1_000

    private var watchers: [WatcherID: Watcher] = [:]
    /// In-process observers (a Redis BLPOP waiting for a push): each is told once, after a change to one of its
    /// keys applied here, and then forgotten.
    private var observers: [UInt64: (keys: Set<[UInt8]>, changed: () -> Void)] = [:]
    private var lastObserver: UInt64 = 0

    var count: Int { watchers.count }

    /// Calls `changed` once, after the next applied change to any of `keys`; the id cancels it.
    func observe(_ keys: Set<[UInt8]>, changed: @escaping () -> Void) -> UInt64 {
        lastObserver += 1
        observers[lastObserver] = (keys, changed)
        return lastObserver
    }

    func stopObserving(_ id: UInt64) { observers[id] = nil }

    func add(key: [UInt8], rangeEnd: [UInt8]?, startRevision: Revision, channel: any Channel, requestID: UInt64) {
        watchers[WatcherID(channel: ObjectIdentifier(channel), requestID: requestID)] = Watcher(
            key: key, rangeEnd: rangeEnd, startRevision: startRevision, channel: channel, requestID: requestID)
    }

    func cancel(channel: any Channel, requestID: UInt64) {
        guard
            let watcher = watchers.removeValue(
                forKey: WatcherID(channel: ObjectIdentifier(channel), requestID: requestID))
        else { return }
        Self.send(.watchEnded(reason: "cancelled", resumeRevision: nil), to: watcher.channel, requestID: requestID)
    }

    /// Delivers the changes of one applied command to every watcher whose range they touch.
    func publish(_ events: [WatchEvent]) {
        guard !events.isEmpty else { return }
        if !observers.isEmpty {
            let touched = Set(events.map(\.kv.key))
            for (id, observer) in observers where !observer.keys.isDisjoint(with: touched) {
                observers[id] = nil
                observer.changed()
            }
        }
        guard !watchers.isEmpty else { return }
        for (id, watcher) in watchers {
            let matching = events.filter {
                $0.revision >= watcher.startRevision
                    && KeyRange.contains($0.kv.key, key: watcher.key, rangeEnd: watcher.rangeEnd)
            }
            guard let first = matching.first else { continue }
            guard watcher.channel.isActive else {
                watchers[id] = nil
                continue
            }
            guard watcher.channel.isWritable else {
                watchers[id] = nil
                let reason =
                    "watcher too slow: its connection stopped draining; resume from revision \(first.kv.modRevision.rawValue)"
                Self.send(
                    .watchEnded(reason: reason, resumeRevision: first.kv.modRevision), to: watcher.channel,
                    requestID: watcher.requestID)
                continue
            }
            Self.send(.watchEvents(matching), to: watcher.channel, requestID: watcher.requestID)
        }
    }

    static func send(_ outcome: ClientResponse.Outcome, to channel: any Channel, requestID: UInt64) {
        channel.writeAndFlush(ClientResponse(requestID: requestID, outcome: outcome).frame, promise: nil)
    }
}
