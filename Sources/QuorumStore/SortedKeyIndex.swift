/// The ordered set of keys that have any history, for range reads.
///
/// A sorted array of sorted chunks: a lookup is two binary searches (O(log n)); an insert or a removal moves at
/// most one chunk's elements plus, on a split or an emptied chunk, the chunk array (n / chunkSize entries), so at
/// 100k keys it touches a few hundred pointers instead of the 100k a flat sorted array would.
/// swift-collections 1.6 ships `SortedCollections` only behind an unstable trait, so it is not used.
struct SortedKeyIndex: Sendable {
    /// Invariant: no chunk is empty; keys strictly increase within a chunk and from one chunk to the next.
    private var chunks: [[IndexEntry]] = []
    private(set) var count = 0
    private static let chunkCapacity = 512

    /// The chunk a key belongs to: the first whose last key is >= `key`, else the last chunk.
    private func chunkIndex(for key: [UInt8]) -> Int {
        var low = 0
        var high = chunks.count - 1
        while low < high {
            let middle = (low + high) / 2
            if compareKeys(chunks[middle][chunks[middle].count - 1].key, key) < 0 {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    /// The first position in `chunk` whose key is >= `key`.
    private static func lowerBound(_ key: [UInt8], in chunk: [IndexEntry]) -> Int {
        var low = 0
        var high = chunk.count
        while low < high {
            let middle = (low + high) / 2
            if compareKeys(chunk[middle].key, key) < 0 { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Adds a key that is not yet present, with the slot of its history in `KeyHistoryTable`.
    mutating func insert(_ key: [UInt8], slot: Int) {
        count += 1
        let entry = IndexEntry(key: key, slot: slot)
        guard !chunks.isEmpty else {
            chunks.append([entry])
            return
        }
        let chunk = chunkIndex(for: key)
        let position = Self.lowerBound(key, in: chunks[chunk])
        precondition(position == chunks[chunk].count || chunks[chunk][position].key != key, "key inserted twice")
        chunks[chunk].insert(entry, at: position)
        if chunks[chunk].count >= Self.chunkCapacity {
            let upperHalf = Array(chunks[chunk][(Self.chunkCapacity / 2)...])
            chunks[chunk].removeSubrange((Self.chunkCapacity / 2)...)
            chunks.insert(upperHalf, at: chunk + 1)
        }
    }

    mutating func remove(_ key: [UInt8]) {
        guard !chunks.isEmpty else { return }
        let chunk = chunkIndex(for: key)
        let position = Self.lowerBound(key, in: chunks[chunk])
        guard position < chunks[chunk].count, chunks[chunk][position].key == key else { return }
        chunks[chunk].remove(at: position)
        count -= 1
        if chunks[chunk].isEmpty { chunks.remove(at: chunk) }
    }

    /// Calls `body` with each key >= `start` and its slot, in ascending order, until it returns false.
    func forEachKey(from start: [UInt8], _ body: ([UInt8], Int) -> Bool) {
        guard !chunks.isEmpty else { return }
        var chunk = chunkIndex(for: start)
        var position = Self.lowerBound(start, in: chunks[chunk])
        while chunk < chunks.count {
            let entries = chunks[chunk]
            while position < entries.count {
                if !body(entries[position].key, entries[position].slot) { return }
                position += 1
            }
            chunk += 1
            position = 0
        }
    }

    /// Calls `body` with each key in [key, rangeEnd) (to the end when `rangeEnd` is `[0]`) and its slot, until
    /// it returns false. A single-key request (nil `rangeEnd`) needs no walk; callers look it up by hash.
    func forEachKey(key: [UInt8], rangeEnd: [UInt8]?, _ body: ([UInt8], Int) -> Bool) {
        guard let rangeEnd, !rangeEnd.isEmpty else { preconditionFailure("single keys are looked up, not walked") }
        let unbounded = rangeEnd == [0]
        forEachKey(from: key) { candidate, slot in
            if !unbounded && compareKeys(candidate, rangeEnd) >= 0 { return false }
            return body(candidate, slot)
        }
    }
}

struct IndexEntry: Sendable {
    var key: [UInt8]
    /// Where the key's history lives in `KeyHistoryTable`.
    var slot: Int
}
