import DequeModule
import QuorumConsensus

/// SCAN's cursors. Redis's cursor is an unsigned 64-bit number (redis-cli parses it with `strtoull`), while a scan
/// here resumes at a key of a group's ordered store, which does not fit in one. So the node keeps the positions it
/// handed out and gives the client a random number for each: "0" starts and ends a scan, as in Redis. The table is
/// bounded, by count and by key bytes, and forgets the oldest positions first; a forgotten cursor (or one from
/// before a restart) is refused, and the scan starts again.
final class RedisScanCursors: @unchecked Sendable {
    // @unchecked Sendable: used only on the node's event loop, where the port's connections run.
    struct Position: Equatable {
        var group: GroupID
        var key: [UInt8]
    }

    private let countMax: Int
    private let keyBytesMax: Int
    private var positions: [UInt64: Position] = [:]
    private var issued: Deque<UInt64> = []
    private var keyBytes = 0

    init(countMax: Int = 100_000, keyBytesMax: Int = 16 << 20) {
        self.countMax = countMax
        self.keyBytesMax = keyBytesMax
    }

    /// A cursor that resumes at `position`.
    func cursor(resuming position: Position) -> UInt64 {
        var cursor = UInt64.random(in: 1...UInt64.max)
        while positions[cursor] != nil { cursor = UInt64.random(in: 1...UInt64.max) }
        positions[cursor] = position
        issued.append(cursor)
        keyBytes += position.key.count
        while issued.count > countMax || (keyBytes > keyBytesMax && issued.count > 1), let oldest = issued.popFirst() {
            keyBytes -= positions.removeValue(forKey: oldest)?.key.count ?? 0
        }
        return cursor
    }

    /// Where `cursor` resumes: nil for "0" (the start) as `.some(nil)`, and nil for a cursor not handed out here or
    /// forgotten since. A cursor may be used again (a client retrying a page), so it is not removed.
    func position(of cursor: [UInt8]) -> Position?? {
        guard let number = UInt64(String(decoding: cursor, as: UTF8.self)) else { return nil }
        if number == 0 { return .some(nil) }
        return positions[number].map { .some($0) }
    }
}
