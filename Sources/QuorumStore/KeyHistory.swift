/// One write to one key: a put, or a tombstone for a delete.
struct KeyRecord: Hashable, Sendable {
    var revision: Revision
    /// Position among the writes of one transaction (0 for a plain put or delete).
    var subRevision: UInt32
    /// Revision of the put that created the key's current generation; zero for a tombstone.
    var createRevision: Revision
    /// Zero for a tombstone.
    var version: UInt64
    var value: [UInt8]
    var lease: LeaseID?
    var isTombstone: Bool

    func keyValue(key: [UInt8], includeValue: Bool = true) -> KeyValue {
        KeyValue(
            key: key, value: includeValue ? value : [], createRevision: createRevision, modRevision: revision,
            version: version, lease: lease)
    }
}

/// Every retained write to one key.
struct KeyHistory: Hashable, Sendable {
    /// Invariant: non-empty while the key is in the store; (revision, subRevision) strictly increases.
    var records: [KeyRecord]

    /// The live version, if the key exists now.
    var latestLive: KeyRecord? {
        guard let last = records.last, !last.isTombstone else { return nil }
        return last
    }

    /// Index of the last record written at or before `revision`.
    func lastIndex(atOrBefore revision: Revision) -> Int? {
        var low = 0
        var high = records.count
        while low < high {
            let middle = (low + high) / 2
            if records[middle].revision <= revision { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : low - 1
    }

    /// The version visible to a read at `revision` (nil: the latest), or nil if the key did not exist then.
    func visible(at revision: Revision?) -> KeyRecord? {
        guard let revision else { return latestLive }
        guard let index = lastIndex(atOrBefore: revision), !records[index].isTombstone else { return nil }
        return records[index]
    }

    /// The record written at exactly (revision, subRevision), and the one before it.
    func record(at revision: Revision, subRevision: UInt32) -> (record: KeyRecord, previous: KeyRecord?)? {
        guard var index = lastIndex(atOrBefore: revision) else { return nil }
        while index >= 0 && records[index].revision == revision {
            if records[index].subRevision == subRevision {
                return (records[index], index > 0 ? records[index - 1] : nil)
            }
            index -= 1
        }
        return nil
    }

    /// Drops what no read at or after `revision` and no event at or after it can need: every record before
    /// `revision` except the last one, which stays when it is a live version (it is what a read at `revision`
    /// sees, or the previous value of the event at `revision`). Returns whether nothing is left.
    mutating func compact(below revision: Revision) -> Bool {
        var firstKept = 0
        while firstKept < records.count && records[firstKept].revision < revision { firstKept += 1 }
        if firstKept > 0 && !records[firstKept - 1].isTombstone { firstKept -= 1 }
        if firstKept > 0 { records.removeFirst(firstKept) }
        return records.isEmpty
    }
}
