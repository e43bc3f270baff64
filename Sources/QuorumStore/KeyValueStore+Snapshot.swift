import DequeModule
import QuorumCodec
import QuorumConsensus
import QuorumSharding

/// Snapshot format (little-endian, version 3; version 2 lacked the slot states, which were then empty, and
/// version 1 also lastSequence, which was then always 0):
///
///     magic "QSS3" revision compactedRevision appliedCount lastSequence
///     keyCount { key recordCount { revision subRevision:u32 createRevision version value lease tombstone:u8 } }
///     leaseCount { id ttl deadline }          sessionCount { client sequence lastUsed result }
///     slotCount { slot:u16 state } keyspaceCount { prefix spanCount { start hasEnd:u8 [end] state } }
///     where state := kind:u8 (1 importing, 2 owned, 3 released) group:u64 (0 when owned)
///
/// Keys ascend, leases and sessions ascend by id, so equal states give equal bytes. History that compaction
/// has logically dropped but not yet physically removed is left out, so the bytes do not depend on how far
/// incremental compaction has got. Lease key sets, the leases' expiry order and the write log are derived data,
/// rebuilt on restore.
extension KeyValueStore {
    private static let magic: [UInt8] = Array("QSS3".utf8)
    private static let versionTwoMagic: [UInt8] = Array("QSS2".utf8)
    private static let versionOneMagic: [UInt8] = Array("QSS1".utf8)

    public func snapshot() -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes.append(contentsOf: Self.magic)
        writer.write(revision)
        writer.write(compactedRevision)
        writer.write(appliedCount)
        writer.write(lastSequence)
        var retained: [([UInt8], [KeyRecord])] = []
        index.forEachKey(from: []) { key, slot in
            var history = histories[slot: slot]
            if !history.compact(below: compactedRevision) { retained.append((key, history.records)) }
            return true
        }
        writer.writeCount(retained.count)
        for (key, records) in retained {
            writer.writeBytes(key)
            writer.writeCount(records.count)
            for record in records {
                writer.write(record.revision)
                writer.write(record.subRevision)
                writer.write(record.createRevision)
                writer.write(record.version)
                writer.writeBytes(record.value)
                writer.write(record.lease)
                writer.write(record.isTombstone)
            }
        }
        writer.writeCount(leases.count)
        for (id, lease) in leases.sorted(by: { $0.key < $1.key }) {
            writer.write(id.rawValue)
            writer.write(lease.ttl.milliseconds)
            writer.write(lease.deadline.milliseconds)
        }
        writer.writeCount(sessions.count)
        for (client, session) in sessions.sorted(by: { $0.key < $1.key }) {
            writer.write(client.rawValue)
            writer.write(session.sequence.rawValue)
            writer.write(session.lastUsed)
            session.result.encode(into: &writer)
        }
        let slots = ownership.allSlots
        writer.writeCount(slots.count)
        for (slot, state) in slots {
            writer.write(UInt16(slot))
            Self.write(state, into: &writer)
        }
        let keyspaces = ownership.allKeyspaces
        writer.writeCount(keyspaces.count)
        for (prefix, spans) in keyspaces {
            writer.writeBytes(prefix)
            writer.writeCount(spans.pieces.count)
            for piece in spans.pieces {
                writer.writeBytes(piece.span.start)
                writer.write(piece.span.end != nil)
                if let end = piece.span.end { writer.writeBytes(end) }
                Self.write(piece.value, into: &writer)
            }
        }
        return writer.bytes
    }

    /// Rebuilds a store from `snapshot()`'s bytes, checking every invariant the rest of the store relies on.
    /// - Throws: `.malformed` naming the first inconsistency; a corrupt snapshot never traps.
    public init(restoringFrom bytes: [UInt8], limits: StoreLimits = .default) throws(StoreError) {
        self.init(limits: limits)
        var reader = StoreReader(bytes)
        let magic = try (0..<Self.magic.count).map { _ throws(StoreError) in try reader.readByte() }
        guard magic == Self.magic || magic == Self.versionTwoMagic || magic == Self.versionOneMagic else {
            throw .malformed("not a store snapshot (bad magic)")
        }
        revision = try reader.readRevision()
        compactedRevision = try reader.readRevision()
        appliedCount = try reader.readUInt64()
        if magic != Self.versionOneMagic { lastSequence = try reader.readUInt64() }
        if compactedRevision > revision { throw .malformed("compacted revision is above the current revision") }
        // Counters that only ever increment must have room to, or a later apply would trap on overflow.
        if revision.rawValue == .max || appliedCount == .max || lastSequence == .max { throw .malformed("a counter is at its maximum") }
        var entries: [WriteLogEntry] = []
        var previousKey: [UInt8]? = nil
        let keyCount = try reader.readCount(minimumBytes: 8, what: "keys")
        for _ in 0..<keyCount {
            let key = try reader.readBytes(limit: limits.keyBytesMax, what: "key")
            if key.isEmpty { throw .malformed("snapshot holds an empty key") }
            if let previousKey, compareKeys(previousKey, key) >= 0 { throw .malformed("snapshot keys out of order") }
            previousKey = key
            let recordCount = try reader.readCount(minimumBytes: 41, what: "records")
            if recordCount == 0 { throw .malformed("key \(printable(key)) has no history") }
            var records: [KeyRecord] = []
            records.reserveCapacity(recordCount)
            for _ in 0..<recordCount {
                let record = KeyRecord(
                    revision: try reader.readRevision(), subRevision: try reader.readUInt32(),
                    createRevision: try reader.readRevision(), version: try reader.readUInt64(),
                    value: try reader.readBytes(limit: limits.valueBytesMax, what: "value"),
                    lease: try reader.readLease(), isTombstone: try reader.readBool())
                if let last = records.last,
                    (last.revision, last.subRevision) >= (record.revision, record.subRevision)
                {
                    throw .malformed("history of \(printable(key)) is out of order")
                }
                if record.revision > revision || record.revision == .zero {
                    throw .malformed("history of \(printable(key)) has revision \(record.revision.rawValue)")
                }
                let wellFormed =
                    record.isTombstone
                    ? record.version == 0 && record.createRevision == .zero && record.value.isEmpty
                        && record.lease == nil
                    : record.version >= 1 && record.version < .max && record.createRevision != .zero
                        && record.createRevision <= record.revision
                if !wellFormed { throw .malformed("history of \(printable(key)) has an inconsistent record") }
                // A compacted history starts anywhere, but from there on every write is the next version.
                if let last = records.last, !record.isTombstone, record.version != (last.isTombstone ? 1 : last.version + 1) {
                    throw .malformed("history of \(printable(key)) skips a version")
                }
                if record.revision >= compactedRevision {
                    entries.append(WriteLogEntry(revision: record.revision, subRevision: record.subRevision, key: key))
                }
                records.append(record)
            }
            index.insert(key, slot: histories.insert(KeyHistory(records: records), for: key))
        }
        let leaseCount = try reader.readCount(minimumBytes: 24, what: "leases")
        for _ in 0..<leaseCount {
            let id = LeaseID(try reader.readUInt64())
            if id.rawValue == 0 || leases[id] != nil {
                throw .malformed("lease id \(id.rawValue) is invalid or repeated")
            }
            leases[id] = LeaseState(
                ttl: LeaseTTL(milliseconds: try reader.readUInt64()),
                deadline: StoreTime(milliseconds: try reader.readUInt64()), keys: [])
        }
        leasesByExpiry = LeasesByExpiry(leases)
        // Lease key sets are derived from the histories: every live key's latest lease.
        var orphan: (key: [UInt8], lease: LeaseID)? = nil
        let keyIndex = index
        keyIndex.forEachKey(from: []) { key, slot in
            guard let lease = histories[slot: slot].latestLive?.lease else { return true }
            guard leases[lease] != nil else {
                orphan = (key, lease)
                return false
            }
            leases[lease]!.keys.insert(key)
            return true
        }
        if let orphan { throw .malformed("key \(printable(orphan.key)) is attached to missing \(orphan.lease)") }
        let sessionCount = try reader.readCount(minimumBytes: 25, what: "sessions")
        let resultDecoder = StoreResult.ResultDecoder(limits: limits)
        for _ in 0..<sessionCount {
            let client = ClientID(try reader.readUInt64())
            if sessions[client] != nil { throw .malformed("\(client) appears twice") }
            let sequence = SequenceNumber(try reader.readUInt64())
            let lastUsed = try reader.readUInt64()
            sessions[client] = SessionRecord(
                sequence: sequence, result: try resultDecoder.result(&reader), lastUsed: lastUsed)
        }
        if magic == Self.magic { try restoreOwnership(&reader) }
        try reader.expectEnd()
        entries.sort { ($0.revision, $0.subRevision) < ($1.revision, $1.subRevision) }
        // Each write has a revision and sub-revision of its own; the write log (watch replay) is ordered by them.
        for (earlier, later) in zip(entries, entries.dropFirst())
        where (earlier.revision, earlier.subRevision) == (later.revision, later.subRevision) {
            throw .malformed(
                "\(printable(earlier.key)) and \(printable(later.key)) were both written at revision "
                    + "\(later.revision.rawValue).\(later.subRevision)")
        }
        writeLog = Deque(entries)
    }

    private static func write(_ state: KeyOwnership.State, into writer: inout ByteWriter) {
        switch state {
        case .importing(let source):
            writer.write(1 as UInt8)
            writer.write(source.rawValue)
        case .owned:
            writer.write(2 as UInt8)
            writer.write(0 as UInt64)
        case .released(let target):
            writer.write(3 as UInt8)
            writer.write(target.rawValue)
        }
    }

    private static func readOwnershipState(_ reader: inout StoreReader) throws(StoreError) -> KeyOwnership.State {
        let kind = try reader.readByte()
        let group = try reader.readUInt64()
        switch (kind, group) {
        case (1, 1...): return .importing(from: GroupID(group))
        case (2, 0): return .owned
        case (3, 1...): return .released(to: GroupID(group))
        default: throw .malformed("unknown ownership state \(kind) with group \(group)")
        }
    }

    private mutating func restoreOwnership(_ reader: inout StoreReader) throws(StoreError) {
        let slotCount = try reader.readCount(minimumBytes: 11, what: "slot states")
        var previous = -1
        for _ in 0..<slotCount {
            let raw = Int(try reader.readUInt16())
            guard raw > previous, let slot = HashSlot(raw) else { throw .malformed("slot states out of order") }
            previous = raw
            ownership.restore(slot, try Self.readOwnershipState(&reader))
        }
        let keyspaceCount = try reader.readCount(minimumBytes: 8, what: "keyspaces")
        for _ in 0..<keyspaceCount {
            let prefix = try reader.readBytes(limit: limits.keyBytesMax, what: "keyspace prefix")
            let spanCount = try reader.readCount(minimumBytes: 14, what: "keyspace spans")
            var spans: [(KeySpan, KeyOwnership.State)] = []
            for _ in 0..<spanCount {
                let start = try reader.readBytes(limit: limits.keyBytesMax, what: "span start")
                let end = try reader.readBool() ? try reader.readBytes(limit: limits.keyBytesMax, what: "span end") : nil
                guard let span = KeySpan(start: start, end: end) else { throw .malformed("an empty span of keys") }
                spans.append((span, try Self.readOwnershipState(&reader)))
            }
            do throws(ShardMapError) {
                try ownership.restore(prefix: prefix, spans: spans)
            } catch {
                throw .malformed(error.description)
            }
        }
    }
}
