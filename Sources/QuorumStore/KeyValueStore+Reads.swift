extension KeyValueStore {
    /// Resolves a requested read revision: nil (or 0) means the latest state.
    func readRevision(_ requested: Revision?) throws(StoreError) -> Revision? {
        guard let requested, requested != .zero else { return nil }
        if requested < compactedRevision {
            throw .compacted(requested: requested, oldestAvailable: compactedRevision)
        }
        if requested > revision { throw .futureRevision(requested: requested, current: revision) }
        return requested
    }

    func validate(_ request: RangeRequest) throws(StoreError) {
        try validateKey(request.key)
        try validateRangeEnd(request.rangeEnd)
        try checkServed(request.key, rangeEnd: request.rangeEnd)
        _ = try readRevision(request.revision)
    }

    /// Reads keys at the latest or a past revision, sorted by key. O(log n + keys in range): `count` needs
    /// every match, as in etcd.
    public func range(_ request: RangeRequest) throws(StoreError) -> RangeResponse {
        try validateKey(request.key)
        try validateRangeEnd(request.rangeEnd)
        try checkServed(request.key, rangeEnd: request.rangeEnd)
        let at = try readRevision(request.revision)
        var kvs: [KeyValue] = []
        var count = 0
        let limit = request.limit > 0 ? request.limit : Int.max
        if request.rangeEnd?.isEmpty ?? true {
            // A single key is a hash lookup, not a walk of the ordered index.
            guard let record = histories[request.key]?.visible(at: at) else {
                return RangeResponse(revision: revision, kvs: [], more: false, count: 0)
            }
            let kvs = request.countOnly ? [] : [record.keyValue(key: request.key, includeValue: !request.keysOnly)]
            return RangeResponse(revision: revision, kvs: kvs, more: false, count: 1)
        }
        index.forEachKey(key: request.key, rangeEnd: request.rangeEnd) { key, slot in
            guard let record = histories[slot: slot].visible(at: at), isServed(key) else { return true }
            count += 1
            if !request.countOnly && kvs.count < limit {
                kvs.append(record.keyValue(key: key, includeValue: !request.keysOnly))
            }
            return true
        }
        return RangeResponse(revision: revision, kvs: kvs, more: count > kvs.count && !request.countOnly, count: count)
    }

    /// The value of one key now, or nil.
    public func get(_ key: [UInt8]) -> KeyValue? {
        histories[key]?.latestLive?.keyValue(key: key)
    }

    /// The events of every write at or after `start` to keys in (key, rangeEnd), in revision order, to resume
    /// a watch. `start` 0 means "from now" and returns nothing.
    /// - Parameter limit: at most this many events (0: no limit).
    /// - Throws: `.compacted` when `start` is below the compacted revision: the history is gone, so the
    ///   watcher must re-read the current state and watch from the current revision + 1.
    public func events(
        from start: Revision, key: [UInt8], rangeEnd: [UInt8]? = nil, limit: Int = 0
    ) throws(StoreError) -> [WatchEvent] {
        guard start != .zero else { return [] }
        return try eventPage(
            from: HistoryPosition(revision: start), key: key, rangeEnd: rangeEnd,
            eventsMax: limit == 0 ? .max : limit, bytesMax: .max, scannedMax: .max
        ).events
    }

    /// One page of the events at or after `position` to keys in (key, rangeEnd), so that a long history is sent
    /// as the reader takes it rather than built at once: at most `eventsMax` events, stopping after the event that
    /// reaches `bytesMax` bytes (at least one event), and looking at no more than `scannedMax` writes (a narrow
    /// watch over a long history must not stall the caller either).
    /// - Throws: `.compacted` when the history at `position` is gone.
    public func eventPage(
        from position: HistoryPosition, key: [UInt8], rangeEnd: [UInt8]?, eventsMax: Int, bytesMax: Int,
        scannedMax: Int
    ) throws(StoreError) -> EventPage {
        if position.revision < compactedRevision {
            throw .compacted(requested: position.revision, oldestAvailable: compactedRevision)
        }
        var low = 0
        var high = writeLog.count
        while low < high {
            let middle = (low + high) / 2
            if HistoryPosition(writeLog[middle]) < position { low = middle + 1 } else { high = middle }
        }
        var page = EventPage(events: [], next: nil)
        var bytes = 0
        var cursor = low
        while cursor < writeLog.count {
            guard page.events.count < eventsMax, bytes < bytesMax, cursor - low < scannedMax else {
                page.next = HistoryPosition(writeLog[cursor])
                break
            }
            let entry = writeLog[cursor]
            cursor += 1
            guard KeyRange.contains(entry.key, key: key, rangeEnd: rangeEnd),
                let (record, previous) = histories[entry.key]?.record(
                    at: entry.revision, subRevision: entry.subRevision)
            else { continue }
            let previousKV = previous.flatMap { $0.isTombstone ? nil : $0.keyValue(key: entry.key) }
            let event: WatchEvent
            if record.isTombstone {
                let kv = KeyValue(
                    key: entry.key, value: [], createRevision: .zero, modRevision: record.revision, version: 0)
                event = WatchEvent(kind: .delete, kv: kv, prevKV: previousKV)
            } else {
                event = WatchEvent(kind: .put, kv: record.keyValue(key: entry.key), prevKV: previousKV)
            }
            bytes += 2 * entry.key.count + event.kv.value.count + (previousKV?.value.count ?? 0)
            page.events.append(event)
        }
        return page
    }

    /// How many keys exist now (not counting deleted ones still in history).
    public var liveKeyCount: Int { histories.liveCount }
}
