import QuorumSharding

/// Moving hash slots between groups (`StoreCommand.importSlots` and the steps after it), and the check every
/// keyed command passes: a key whose slot this group released, or is still importing, is refused.
extension KeyValueStore {
    /// The most keys one export page returns, and the most bytes of keys and values (unless its one key is larger),
    /// so that the page, adopted by the target, fits in one request.
    public static let exportPageKeysMax = 10_000
    static let exportPageBytes = 1 << 20

    /// Refuses a single-key request for a slot this group does not serve. A range is not refused: it skips the
    /// keys of such slots (`isServed`), as a Redis Cluster node lists only its own slots' keys.
    func checkServed(_ key: [UInt8], rangeEnd: [UInt8]?) throws(StoreError) {
        guard rangeEnd?.isEmpty ?? true, let refusal = slotStates.refusal(forKey: key) else { return }
        switch refusal {
        case .moved(let slot, let group): throw .slotMoved(slot: slot, to: group)
        case .importing(let slot): throw .slotImporting(slot: slot)
        }
    }

    func isServed(_ key: [UInt8]) -> Bool { slotStates.refusal(forKey: key) == nil }

    mutating func performSlotMove(_ command: StoreCommand) throws(StoreError) -> AppliedCommand {
        if case .adoptKeys(let keys) = command { return try adopt(keys) }
        do throws(ShardMapError) {
            switch command {
            case .importSlots(let slots, let source):
                var importing = slotStates
                guard try importing.beginImport(slots, from: source) else {
                    return AppliedCommand(result: .slotsAlreadyImported(revision: revision), events: [])
                }
                // Slots coming back to a group that once released them: what it kept of them is stale.
                var batch = beginWrite()
                dropReleasedKeys(in: slots, with: &batch)
                finishWrite(batch)
                slotStates = importing
                return AppliedCommand(result: .slotsMoved(revision: revision), events: batch.events)
            case .releaseSlots(let slots, let target):
                try slotStates.release(slots, to: target)
                return AppliedCommand(result: .slotsMoved(revision: revision), events: [])
            case .exportSlots(let slots, let after, let limit):
                return AppliedCommand(result: try export(slots, after: after, limit: limit), events: [])
            case .finishImport(let slots):
                try slotStates.finishImport(slots)
                return AppliedCommand(result: .slotsMoved(revision: revision), events: [])
            case .dropSlots(let slots):
                try requireReleased(slots)
                var batch = beginWrite()
                dropReleasedKeys(in: slots, with: &batch)
                finishWrite(batch)
                return AppliedCommand(result: .slotsMoved(revision: revision), events: batch.events)
            default:
                preconditionFailure("not a slot move: \(command)")
            }
        } catch {
            throw .invalidMove(error.description)
        }
    }

    private func requireReleased(_ slots: ClosedRange<Int>) throws(ShardMapError) {
        for raw in slots {
            guard let slot = HashSlot(raw), case .released = slotStates.state(of: slot) else {
                throw .invalid("slot \(raw) was not released by this group")
            }
        }
    }

    private func export(_ slots: ClosedRange<Int>, after: [UInt8], limit: Int) throws(ShardMapError) -> StoreResult {
        try requireReleased(slots)
        guard (1...Self.exportPageKeysMax).contains(limit) else {
            throw .invalid("an export page holds 1 to \(Self.exportPageKeysMax) keys, not \(limit)")
        }
        var keys: [MovedKey] = []
        var bytes = 0
        var next: [UInt8]? = nil
        index.forEachKey(from: after) { key, slot in
            guard key != after, let record = histories[slot: slot].latestLive,
                slotStates.isReleased(key, in: slots)
            else { return true }
            let size = key.count + record.value.count
            if keys.count == limit || (!keys.isEmpty && bytes + size > Self.exportPageBytes) {
                next = keys.last?.key
                return false
            }
            let lease = record.lease.flatMap { id in
                leases[id].map { MovedLease(id: id, ttl: $0.ttl, deadline: $0.deadline) }
            }
            keys.append(MovedKey(key: key, value: record.value, lease: lease))
            bytes += size
            return true
        }
        return .slotsExported(keys: keys, next: next, revision: revision)
    }

    /// Writes keys of slots being imported here, in one revision, creating the leases they hold.
    private mutating func adopt(_ keys: [MovedKey]) throws(StoreError) -> AppliedCommand {
        for moved in keys {
            try validateKey(moved.key)
            guard slotStates.isImporting(HashSlot(key: moved.key)) else {
                throw .invalidMove("key \(printable(moved.key)) is not in a slot this group is importing")
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
        return AppliedCommand(result: .slotsMoved(revision: revision), events: batch.events)
    }

    private mutating func dropReleasedKeys(in slots: ClosedRange<Int>, with batch: inout WriteBatch) {
        var doomed: [[UInt8]] = []
        index.forEachKey(from: []) { key, slot in
            if histories[slot: slot].latestLive != nil, slotStates.isReleased(key, in: slots) { doomed.append(key) }
            return true
        }
        for key in doomed { deleteLiveKey(key, with: &batch) }
    }
}
