import QuorumConsensus
import QuorumStore

/// The lock recipes' queues as the dashboard lists them (docs/locks.md): every lock, read-write lock, semaphore
/// and election with contenders, each contender a sequential key under `/_quorum/<kind>/<name>/q/`. Read from the
/// serving node's own replica of group 1, a bounded number of keys per kind, so that it costs one local range read
/// per kind and no request to anyone.
struct DashboardLockQueue: Equatable {
    var kind: String
    var name: String
    /// Contenders in arrival order; the first holds a lock (a read-write lock or a semaphore may have more holders).
    var contenders: Int
    /// The first contender's fencing token (its key's create revision) and the value it put.
    var firstToken: Revision
    var firstValue: [UInt8]

    static let kinds = ["locks", "rwlocks", "semaphores", "elections"]
    /// Keys read per kind: a queue past this is cut short, and the page says so.
    static let keysPerKindMax = 1000

    static func prefix(of kind: String) -> [UInt8] { Array("/_quorum/\(kind)/".utf8) }

    /// The queues among `keys` (the keys under `prefix(of: kind)`, in key order: one queue's keys are adjacent,
    /// in arrival order).
    static func queues(kind: String, keys: [KeyValue]) -> [DashboardLockQueue] {
        let prefix = prefix(of: kind)
        let marker = Array("/q/".utf8)
        var queues: [DashboardLockQueue] = []
        for kv in keys where kv.key.starts(with: prefix) {
            let rest = kv.key.dropFirst(prefix.count)
            // A name may contain "/q/" itself; the sequence number after the last one is all digits, which also
            // tells a contender from recipe state beside the queue (`holder`).
            guard let at = lastRange(of: marker, in: rest),
                rest[(at + marker.count)...].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                at + marker.count < rest.endIndex
            else { continue }
            let name = String(decoding: rest[..<at], as: UTF8.self)
            if let last = queues.last, last.name == name {
                queues[queues.count - 1].contenders += 1
            } else {
                queues.append(
                    DashboardLockQueue(
                        kind: kind, name: name, contenders: 1, firstToken: kv.createRevision, firstValue: kv.value))
            }
        }
        return queues
    }

    private static func lastRange(of marker: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.count >= marker.count else { return nil }
        var start = bytes.endIndex - marker.count
        while start >= bytes.startIndex {
            if bytes[start..<start + marker.count].elementsEqual(marker) { return start }
            start -= 1
        }
        return nil
    }
}
