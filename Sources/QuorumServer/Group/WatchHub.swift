import NIOCore
import QuorumStore
import QuorumWire

/// Streams applied changes to the clients watching them. Every node serves watches from its own applied state.
///
/// A watch that starts in the past first replays its history a page at a time, the next page only once the previous
/// one has been written to the socket, so a reader that does not read holds one page of memory, not the history.
/// A live watcher that cannot keep up (its connection's outbound buffer above NIO's high-water mark) is ended with
/// the revision to resume from, rather than buffered without bound or allowed to slow the apply path.
final class WatchHub: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop (by the state machine and the client handler).
    struct Watcher {
        var key: [UInt8]
        var rangeEnd: [UInt8]?
        /// Events below it are not this watcher's: it asked to start later (a revision this node has not applied
        /// yet, as when a client read the revision on the leader and watches on a follower that lags).
        var startRevision: Revision
        var channel: any Channel
        var requestID: UInt64
        /// While the history is replayed: where its next page starts. Live changes reach the watcher only after,
        /// since the replay reads them from the store too.
        var replayFrom: HistoryPosition?
    }

    private struct WatcherID: Hashable {
        var channel: ObjectIdentifier
        var requestID: UInt64
    }

    /// History is sent in pages of at most this many events and about this many bytes, looking at no more than
    /// `pageScannedMax` writes for one page, so that resuming from long ago neither builds a huge frame nor
    /// stalls the event loop.
    static let pageEventsMax = 1_000
    static let pageBytesMax = 1 << 20
    static let pageScannedMax = 10_000

    private var watchers: [WatcherID: Watcher] = [:]
    /// How many of `watchers` each connection holds; every change to `watchers` goes through `insert` and `remove`.
    private var watchersByConnection: [ObjectIdentifier: Int] = [:]
    /// In-process observers (a Redis BLPOP waiting for a push): each is told once, after a change to one of its
    /// keys applied here, and then forgotten.
    private var observers: [UInt64: (keys: Set<[UInt8]>, changed: () -> Void)] = [:]
    private var lastObserver: UInt64 = 0

    var count: Int { watchers.count }

    /// The watches `channel` holds here.
    func count(on channel: any Channel) -> Int { watchersByConnection[ObjectIdentifier(channel)] ?? 0 }

    private func insert(_ watcher: Watcher, as id: WatcherID) {
        if watchers.updateValue(watcher, forKey: id) == nil { watchersByConnection[id.channel, default: 0] += 1 }
    }

    @discardableResult
    private func remove(_ id: WatcherID) -> Watcher? {
        guard let watcher = watchers.removeValue(forKey: id) else { return nil }
        let left = (watchersByConnection[id.channel] ?? 1) - 1
        watchersByConnection[id.channel] = left > 0 ? left : nil
        return watcher
    }

    /// Calls `changed` once, after the next applied change to any of `keys`; the id cancels it.
    func observe(_ keys: Set<[UInt8]>, changed: @escaping () -> Void) -> UInt64 {
        lastObserver += 1
        observers[lastObserver] = (keys, changed)
        return lastObserver
    }

    func stopObserving(_ id: UInt64) { observers[id] = nil }

    func add(
        key: [UInt8], rangeEnd: [UInt8]?, startRevision: Revision, replayFrom: HistoryPosition?, channel: any Channel,
        requestID: UInt64
    ) {
        insert(
            Watcher(
                key: key, rangeEnd: rangeEnd, startRevision: startRevision, channel: channel, requestID: requestID,
                replayFrom: replayFrom),
            as: WatcherID(channel: ObjectIdentifier(channel), requestID: requestID))
    }

    func cancel(channel: any Channel, requestID: UInt64) {
        end(channel: channel, requestID: requestID, reason: "cancelled")
    }

    /// Forgets every watch of `channel`, which has closed.
    func drop(channel: any Channel) {
        let closed = ObjectIdentifier(channel)
        watchers = watchers.filter { $0.key.channel != closed }
        watchersByConnection[closed] = nil
    }

    /// Ends every watch, telling each client why, and tells every observer to look again.
    func endAll(reason: String) {
        for id in Array(watchers.keys) {
            guard let watcher = remove(id) else { continue }
            Self.send(.watchEnded(reason: reason, resumeRevision: nil), to: watcher.channel, requestID: id.requestID)
        }
        let waiting = observers.values.map(\.changed)
        observers.removeAll()
        for changed in waiting { changed() }
    }

    /// Ends a watch, telling its client why.
    func end(channel: any Channel, requestID: UInt64, reason: String) {
        guard
            let watcher = remove(WatcherID(channel: ObjectIdentifier(channel), requestID: requestID))
        else { return }
        Self.send(.watchEnded(reason: reason, resumeRevision: nil), to: watcher.channel, requestID: requestID)
    }

    /// The watcher whose history is being replayed, if it still is.
    func replaying(channel: any Channel, requestID: UInt64) -> Watcher? {
        let id = WatcherID(channel: ObjectIdentifier(channel), requestID: requestID)
        guard let watcher = watchers[id], watcher.replayFrom != nil else { return nil }
        guard watcher.channel.isActive else {
            remove(id)
            return nil
        }
        return watcher
    }

    /// The replay has sent everything before `next`; nil: all of the history, so the watcher is live from now on.
    func replayed(channel: any Channel, requestID: UInt64, upTo next: HistoryPosition?) {
        watchers[WatcherID(channel: ObjectIdentifier(channel), requestID: requestID)]?.replayFrom = next
    }

    /// Delivers the changes of one applied command to every live watcher whose range they touch.
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
        for (id, watcher) in watchers where watcher.replayFrom == nil {
            let matching = events.filter {
                $0.revision >= watcher.startRevision
                    && KeyRange.contains($0.kv.key, key: watcher.key, rangeEnd: watcher.rangeEnd)
            }
            guard let first = matching.first else { continue }
            guard watcher.channel.isActive else {
                remove(id)
                continue
            }
            guard watcher.channel.isWritable else {
                remove(id)
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

    static func send(
        _ outcome: ClientResponse.Outcome, to channel: any Channel, requestID: UInt64,
        promise: EventLoopPromise<Void>? = nil
    ) {
        channel.writeAndFlush(ClientResponse(requestID: requestID, outcome: outcome).frame, promise: promise)
    }
}
