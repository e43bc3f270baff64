/// Every key's history, addressed by key (hashing) or by slot (an array index the ordered index stores next to
/// each key, so a range walk reaches each history without hashing its key).
struct KeyHistoryTable: Sendable {
    /// Invariant: maps exactly the keys in use to distinct slots whose histories are non-empty.
    private var slotsByKey: [KeyBytes: Int] = [:]
    /// Free slots hold an empty history and are listed in `freeSlots`.
    private var histories: [KeyHistory] = []
    private var freeSlots: [Int] = []

    var count: Int { slotsByKey.count }
    /// Keys whose latest record is not a tombstone: kept as histories change, so that counting them (every metrics
    /// scrape does) walks nothing.
    private(set) var liveCount = 0

    func slot(of key: [UInt8]) -> Int? { slotsByKey[KeyBytes(key)] }

    subscript(key: [UInt8]) -> KeyHistory? {
        guard let slot = slot(of: key) else { return nil }
        return histories[slot]
    }

    subscript(slot slot: Int) -> KeyHistory { histories[slot] }

    /// Edits a history in place (no copy of its records).
    mutating func modify<Result>(slot: Int, _ body: (inout KeyHistory) -> Result) -> Result {
        let wasLive = histories[slot].latestLive != nil
        let result = body(&histories[slot])
        liveCount += (histories[slot].latestLive != nil ? 1 : 0) - (wasLive ? 1 : 0)
        return result
    }

    /// Adds a key that has no history yet; returns its slot.
    mutating func insert(_ history: KeyHistory, for key: [UInt8]) -> Int {
        precondition(!history.records.isEmpty, "a stored history is never empty")
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            histories[slot] = history
        } else {
            slot = histories.count
            histories.append(history)
        }
        let previous = slotsByKey.updateValue(slot, forKey: KeyBytes(key))
        precondition(previous == nil, "key inserted twice")
        if history.latestLive != nil { liveCount += 1 }
        return slot
    }

    mutating func remove(_ key: [UInt8]) {
        guard let slot = slotsByKey.removeValue(forKey: KeyBytes(key)) else { return }
        if histories[slot].latestLive != nil { liveCount -= 1 }
        histories[slot] = KeyHistory(records: [])
        freeSlots.append(slot)
    }

    /// Histories in no particular order.
    var all: [KeyHistory] { slotsByKey.values.map { histories[$0] } }
}

/// A key as a dictionary key. `[UInt8]`'s own hashing feeds the hasher one byte at a time, which dominated
/// the profile; hashing the contiguous bytes at once is several times faster.
struct KeyBytes: Hashable, Sendable {
    var bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
