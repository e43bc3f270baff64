/// The writes of one command, all at one revision, in order.
struct WriteBatch {
    let revision: Revision
    var nextSubRevision: UInt32 = 0
    var events: [WatchEvent] = []
    var wroteAnything: Bool { nextSubRevision > 0 }
}

extension KeyValueStore {
    func beginWrite() -> WriteBatch { WriteBatch(revision: revision.next) }

    /// Publishes the batch's revision if it wrote anything: a delete that matched nothing takes no revision.
    mutating func finishWrite(_ batch: WriteBatch) {
        if batch.wroteAnything {
            precondition(batch.revision == revision.next, "write batches must not interleave")
            revision = batch.revision
        }
    }

    func validateKey(_ key: [UInt8]) throws(StoreError) {
        if key.isEmpty { throw .emptyKey }
        if key.count > limits.keyBytesMax { throw .keyTooLarge(bytes: key.count, limit: limits.keyBytesMax) }
    }

    func validateRangeEnd(_ rangeEnd: [UInt8]?) throws(StoreError) {
        if let rangeEnd, rangeEnd.count > limits.keyBytesMax {
            throw .keyTooLarge(bytes: rangeEnd.count, limit: limits.keyBytesMax)
        }
    }

    /// Checks a put against the state before the command (or before the enclosing transaction).
    func validate(_ request: PutRequest) throws(StoreError) {
        try validateKey(request.sequential ? request.key + Self.sequenceSuffix(.max) : request.key)
        try checkServed(request.key, rangeEnd: nil)
        if request.value.count > limits.valueBytesMax {
            throw .valueTooLarge(bytes: request.value.count, limit: limits.valueBytesMax)
        }
        if request.ignoreLease && request.lease != nil { throw .leaseWithIgnoreLease }
        if let lease = request.lease {
            if lease.rawValue == 0 { throw .invalidLeaseID }
            if leases[lease] == nil { throw .leaseNotFound(lease) }
        }
        // A sequential put always creates its key, so it has no value or lease to keep.
        let keepsSomething = request.ignoreValue || request.ignoreLease || !request.splices.isEmpty
        if keepsSomething, request.sequential || histories[request.key]?.latestLive == nil {
            throw .keyNotFound(key: request.key)
        }
        if !request.splices.isEmpty {
            guard request.value.isEmpty, !request.ignoreValue else {
                throw .malformed("a put with splices edits the current value: it carries no value of its own")
            }
            let current = histories[request.key]?.latestLive?.value ?? []
            guard let edited = ValueSplice.apply(request.splices, to: current) else {
                throw .malformed("a splice reaches past the end of the current value")
            }
            if edited.count > limits.valueBytesMax {
                throw .valueTooLarge(bytes: edited.count, limit: limits.valueBytesMax)
            }
        }
    }

    func validate(_ request: DeleteRangeRequest) throws(StoreError) {
        try validateKey(request.key)
        try validateRangeEnd(request.rangeEnd)
        try checkServed(request.key, rangeEnd: request.rangeEnd)
    }

    /// Writes a validated put. Inside a transaction, a key deleted earlier in it has no value or lease to keep;
    /// `ignoreValue` / `ignoreLease` then write an empty value and no lease rather than fail half-way.
    mutating func writePut(_ request: PutRequest, with batch: inout WriteBatch) -> PutResponse {
        guard !request.sequential else {
            lastSequence += 1
            var created = request
            created.key += Self.sequenceSuffix(lastSequence)
            created.sequential = false
            var response = writePut(created, with: &batch)
            response.sequentialKey = created.key
            return response
        }
        let previous = histories[request.key]?.latestLive
        let lease = request.ignoreLease ? previous?.lease : request.lease
        let record = KeyRecord(
            revision: batch.revision, subRevision: batch.nextSubRevision,
            createRevision: previous?.createRevision ?? batch.revision,
            version: (previous?.version ?? 0) + 1,
            value: value(of: request, previous: previous?.value),
            lease: lease, isTombstone: false)
        if previous?.lease != lease {
            if let old = previous?.lease { leases[old]?.keys.remove(request.key) }
            if let new = lease { leases[new]?.keys.insert(request.key) }
        }
        append(record, to: request.key, with: &batch)
        let previousKV = previous?.keyValue(key: request.key)
        batch.events.append(
            WatchEvent(kind: .put, kv: record.keyValue(key: request.key), prevKV: previousKV))
        return PutResponse(revision: batch.revision, prevKV: request.prevKV ? previousKV : nil)
    }

    /// The value a validated put writes. Its splices were checked against the value before the command; should an
    /// earlier write of the same transaction have changed it, what does not fit is left out rather than trapped on,
    /// the same way on every replica.
    private func value(of request: PutRequest, previous: [UInt8]?) -> [UInt8] {
        if request.ignoreValue { return previous ?? [] }
        guard !request.splices.isEmpty else { return request.value }
        return ValueSplice.apply(request.splices, to: previous ?? []) ?? (previous ?? [])
    }

    /// Twenty decimal digits hold any UInt64, so suffixes sort as their numbers do.
    static func sequenceSuffix(_ number: UInt64) -> [UInt8] {
        let digits = Array(String(number).utf8)
        return Array(repeating: UInt8(ascii: "0"), count: 20 - digits.count) + digits
    }

    /// Deletes every live key in the request's range. The response's revision is fixed by the caller.
    mutating func writeDelete(_ request: DeleteRangeRequest, with batch: inout WriteBatch) -> DeleteRangeResponse {
        var doomed: [[UInt8]] = []
        if request.rangeEnd?.isEmpty ?? true {
            if histories[request.key]?.latestLive != nil { doomed.append(request.key) }
        } else {
            index.forEachKey(key: request.key, rangeEnd: request.rangeEnd) { key, slot in
                if histories[slot: slot].latestLive != nil, isServed(key) { doomed.append(key) }
                return true
            }
        }
        var prevKVs: [KeyValue] = []
        for key in doomed {
            let previous = deleteLiveKey(key, with: &batch)
            if request.prevKV { prevKVs.append(previous) }
        }
        return DeleteRangeResponse(revision: revision, deleted: doomed.count, prevKVs: prevKVs)
    }

    /// Writes a tombstone for a key that exists now; returns the version it replaced.
    @discardableResult
    mutating func deleteLiveKey(_ key: [UInt8], with batch: inout WriteBatch) -> KeyValue {
        guard let previous = histories[key]?.latestLive else {
            preconditionFailure("only live keys are deleted")
        }
        if let lease = previous.lease { leases[lease]?.keys.remove(key) }
        let tombstone = KeyRecord(
            revision: batch.revision, subRevision: batch.nextSubRevision, createRevision: .zero, version: 0,
            value: [], lease: nil, isTombstone: true)
        append(tombstone, to: key, with: &batch)
        let previousKV = previous.keyValue(key: key)
        batch.events.append(
            WatchEvent(
                kind: .delete,
                kv: KeyValue(key: key, value: [], createRevision: .zero, modRevision: batch.revision, version: 0),
                prevKV: previousKV))
        return previousKV
    }

    private mutating func append(_ record: KeyRecord, to key: [UInt8], with batch: inout WriteBatch) {
        if let slot = histories.slot(of: key) {
            histories.modify(slot: slot) { $0.records.append(record) }
        } else {
            index.insert(key, slot: histories.insert(KeyHistory(records: [record]), for: key))
        }
        writeLog.append(WriteLogEntry(revision: record.revision, subRevision: record.subRevision, key: key))
        batch.nextSubRevision += 1
    }
}
