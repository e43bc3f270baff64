import HeapModule

/// A world's timeline: events in time order, and those due at the same time in the order they were scheduled, so
/// that a seed replays bit for bit.
struct EventQueue<Kind> {
    private struct Scheduled: Comparable {
        var time: UInt64
        var sequence: UInt64
        var kind: Kind
        static func < (a: Scheduled, b: Scheduled) -> Bool { (a.time, a.sequence) < (b.time, b.sequence) }
        static func == (a: Scheduled, b: Scheduled) -> Bool { (a.time, a.sequence) == (b.time, b.sequence) }
    }

    private var events = Heap<Scheduled>()
    private var scheduled: UInt64 = 0

    mutating func schedule(_ kind: Kind, at time: UInt64) {
        scheduled += 1
        events.insert(Scheduled(time: time, sequence: scheduled, kind: kind))
    }

    /// The earliest event, taken off the timeline.
    mutating func next() -> (time: UInt64, kind: Kind)? {
        events.popMin().map { ($0.time, $0.kind) }
    }
}
