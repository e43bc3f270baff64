import DequeModule

/// Appends sent to one follower and not yet acknowledged, bounded in count and bytes so a slow follower
/// cannot make the leader buffer without limit.
struct Inflights: Sendable {
    private var pending: Deque<(lastIndex: LogIndex, bytes: Int)> = []
    private(set) var bytes = 0
    let messagesMax: Int
    let bytesMax: Int

    init(messagesMax: Int, bytesMax: Int) {
        precondition(messagesMax > 0 && bytesMax > 0, "flow control limits must be positive")
        self.messagesMax = messagesMax
        self.bytesMax = bytesMax
    }

    var isFull: Bool { pending.count >= messagesMax || bytes >= bytesMax }
    var count: Int { pending.count }

    mutating func add(lastIndex: LogIndex, bytes: Int) {
        precondition(pending.last.map { $0.lastIndex < lastIndex } ?? true, "inflight appends go forward")
        pending.append((lastIndex, bytes))
        self.bytes += bytes
    }

    /// Frees every append whose last entry is at or below `index`.
    mutating func free(through index: LogIndex) {
        while let first = pending.first, first.lastIndex <= index {
            bytes -= first.bytes
            pending.removeFirst()
        }
    }

    mutating func reset() {
        pending.removeAll()
        bytes = 0
    }
}
