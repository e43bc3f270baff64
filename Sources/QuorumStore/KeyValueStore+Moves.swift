import QuorumSharding

/// Moving keys between groups (`StoreCommand.importKeys` and the steps after it), and the check every keyed
/// command passes: a key this group released, is still importing, or (range-sharded) does not own is refused.
extension KeyValueStore {
    /// The most keys one export page returns, and the most bytes of keys and values (unless its one key is larger),
    /// so that the page, adopted by the target, fits in one request.
    public static let exportPageKeysMax = 10_000
    static let exportPageBytes = 1 << 20

    /// Refuses a single-key request for a key this group does not serve. A range is not refused: it skips such
    /// keys (`isServed`), as a Redis Cluster node lists only its own slots' keys.
    func checkServed(_ key: [UInt8], rangeEnd: [UInt8]?) throws(StoreError) {
        guard rangeEnd?.isEmpty ?? true, let refusal = ownership.refusal(forKey: key) else { return }
        switch refusal {
        case .moved(let group): throw .keyMoved(key: key, to: group)
        case .importing: throw .keyImporting(key: key)
        case .notServed: throw .keyNotServed(key: key)
        }
    }

    func isServed(_ key: [UInt8]) -> Bool { ownership.refusal(forKey: key) == nil }

    mutating func performMove(_ command: StoreCommand) throws(StoreError) -> AppliedCommand {
        if case .adoptKeys(let keys) = command { return try adopt(keys) }
        do throws(ShardMapError) {
            switch command {
            case .importKeys(let keys, let source):
                var holdsReleasedKeys = false
                forEachReleasedKey(keys, from: []) { _, _ in
                    holdsReleasedKeys = true
                    return false
                }
                var importing = ownership
                guard try importing.beginImport(keys, from: source, holdsReleasedKeys: holdsReleasedKeys) else {
                    return AppliedCommand(result: .keysAlreadyImported(revision: revision), events: [])
                }
                // Keys coming back to a group that once released them: what it kept of them is stale.
                var batch = beginWrite()
                dropReleasedKeys(keys, with: &batch)
                finishWrite(batch)
                ownership = importing
                return AppliedCommand(result: .keysMoved(revision: revision), events: batch.events)
            case .releaseKeys(let keys, let target):
                try ownership.release(keys, to: target)
                return AppliedCommand(result: .keysMoved(revision: revision), events: [])
            case .exportKeys(let keys, let after, let limit):
                return AppliedCommand(result: try export(keys, after: after, limit: limit), events: [])
            case .finishImport(let keys):
                try ownership.finishImport(keys)
                return AppliedCommand(result: .keysMoved(revision: revision), events: [])
            case .dropKeys(let keys):
                try requireReleased(keys)
                var batch = beginWrite()
                dropReleasedKeys(keys, with: &batch)
                finishWrite(batch)
                return AppliedCommand(result: .keysMoved(revision: revision), events: batch.events)
            case .declareKeyspace(let prefix, let ownedHere):
                try declare(prefix: prefix, ownedHere: ownedHere)
                return AppliedCommand(result: .keysMoved(revision: revision), events: [])
            default:
                preconditionFailure("not a move: \(command)")
            }
        } catch {
            throw .invalidMove(error.description)
        }
    }

    /// A group that does not own a new keyspace must not hold keys under it: they would vanish from view.
    private mutating func declare(prefix: [UInt8], ownedHere: Bool) throws(ShardMapError) {
        if !ownedHere, ownership.keyspaces[prefix] == nil {
            var held: [UInt8]? = nil
            index.forEachKey(from: prefix) { key, slot in
                guard key.starts(with: prefix) else { return false }
                guard histories[slot: slot].latestLive != nil, isServed(key) else { return true }
                held = key
                return false
            }
            if let held {
                throw .invalid(
                    "this group holds \(printable(held)) under \(printable(prefix)); move or delete such keys first")
            }
        }
        try ownership.declare(prefix: prefix, ownedHere: ownedHere)
    }

    private func requireReleased(_ keys: KeySelector) throws(ShardMapError) {
        guard ownership.allReleased(keys) else { throw .invalid("\(keys) were not all released by this group") }
    }

    private func export(_ keys: KeySelector, after: [UInt8], limit: Int) throws(ShardMapError) -> StoreResult {
        try requireReleased(keys)
        guard (1...Self.exportPageKeysMax).contains(limit) else {
            throw .invalid("an export page holds 1 to \(Self.exportPageKeysMax) keys, not \(limit)")
        }
        var page: [MovedKey] = []
        var bytes = 0
        var next: [UInt8]? = nil
        forEachReleasedKey(keys, from: after) { key, record in
            let size = key.count + record.value.count
            if page.count == limit || (!page.isEmpty && bytes + size > Self.exportPageBytes) {
                next = page.last?.key
                return false
            }
            let lease = record.lease.flatMap { id in
                leases[id].map { MovedLease(id: id, ttl: $0.ttl, deadline: $0.deadline) }
            }
            page.append(MovedKey(key: key, value: record.value, lease: lease))
            bytes += size
            return true
        }
        return .keysExported(keys: page, next: next, revision: revision)
    }

    /// Writes keys being imported here, in one revision, creating the leases they hold.
    private mutating func adopt(_ keys: [MovedKey]) throws(StoreError) -> AppliedCommand {
        for moved in keys {
            try validateKey(moved.key)
            guard ownership.isImporting(moved.key) else {
                throw .invalidMove("key \(printable(moved.key)) is not among the keys this group is importing")
            }
            if moved.value.count > limits.valueBytesMax {
                throw .valueTooLarge(bytes: moved.value.count, limit: limits.valueBytesMax)
            }
            if let lease = moved.lease, lease.id.rawValue == 0 || lease.ttl.milliseconds == 0 {
                throw .invalidMove("key \(printable(moved.key)) names an invalid lease")
            }
        }
        var batch = beginWrite()
        for moved in keys {
            if let lease = moved.lease, leases[lease.id] == nil {
                leases[lease.id] = LeaseState(ttl: lease.ttl, deadline: lease.deadline, keys: [])
                leasesByExpiry.insert(LeaseExpiry(deadline: lease.deadline, id: lease.id))
            }
            _ = writePut(PutRequest(key: moved.key, value: moved.value, lease: moved.lease?.id), with: &batch)
        }
        finishWrite(batch)
        return AppliedCommand(result: .keysMoved(revision: revision), events: batch.events)
    }

    private mutating func dropReleasedKeys(_ keys: KeySelector, with batch: inout WriteBatch) {
        var doomed: [[UInt8]] = []
        forEachReleasedKey(keys, from: []) { key, _ in
            doomed.append(key)
            return true
        }
        for key in doomed { deleteLiveKey(key, with: &batch) }
    }

    /// Visits the live released keys among `keys`, in key order after `after`, until `body` returns false. A span
    /// is walked alone; hash slots need the whole index.
    private func forEachReleasedKey(
        _ keys: KeySelector, from after: [UInt8], _ body: ([UInt8], KeyRecord) -> Bool
    ) {
        var start = after
        if case .span(let span) = keys, start.lexicographicallyPrecedes(span.start) { start = span.start }
        index.forEachKey(from: start) { key, slot in
            if case .span(let span) = keys, !KeySpan.precedes(key, span.end) { return false }
            guard key != after, let record = histories[slot: slot].latestLive, ownership.isReleased(key, in: keys)
            else { return true }
            return body(key, record)
        }
    }
}
