import QuorumCodec
import DequeModule

/// An acceptor's slots: a compacted prefix summarised by (`baseIndex`, `baseRound`), then one record per slot.
///
/// Slots through `commitIndex` are chosen and this node holds their chosen values. Slots after it hold whatever this
/// acceptor accepted last, in the round it accepted it; a slot below an accepted one may be a gap. Unlike Raft's log
/// nothing here is ever truncated: an accepted value is only ever replaced by one accepted in a newer round.
///
/// Invariants: `baseIndex <= appliedIndex <= commitIndex <= lastIndex`; every slot through `commitIndex` holds a value;
/// `appliedIndex <= max(durableThrough, baseIndex)`; `durableThrough <= lastIndex`.
struct AcceptorLog: Sendable {
    private(set) var baseIndex: LogIndex
    /// The stored round of the slot at `baseIndex` (a local fact: acceptors may have accepted a chosen value in
    /// different rounds); it is the snapshot's `lastIncludedTerm`, which storage compares with its log.
    private(set) var baseRound: Term
    private var records: [SlotRecord]
    private(set) var commitIndex: LogIndex
    private(set) var appliedIndex: LogIndex
    /// Every slot through here is durable as it is in memory.
    private(set) var durableThrough: LogIndex
    /// The lowest slot changed since the last `take`.
    private var unpersistedFrom: LogIndex
    /// The last slot storage holds, durable or being written.
    private var storedThrough: LogIndex
    /// The stored versions of slots changed since the last `take`, for slots storage holds: what a write that
    /// replaces them carries (see `StoredSlot`).
    private var displaced: [LogIndex: SlotRecord] = [:]
    /// Writes handed out and not yet acknowledged, with the last slot each made durable (lowered when a slot it
    /// wrote changes again before it is acknowledged).
    private var pendingWrites: Deque<(number: UInt64, through: LogIndex)> = []

    init(baseIndex: LogIndex, baseRound: Term) {
        self.baseIndex = baseIndex
        self.baseRound = baseRound
        self.records = []
        self.commitIndex = baseIndex
        self.appliedIndex = baseIndex
        self.durableThrough = baseIndex
        self.unpersistedFrom = baseIndex.advanced(by: 1)
        self.storedThrough = baseIndex
    }

    /// Rebuilds the slots from what storage recovered. Throws a sentence for the operator if the data is not a
    /// Multi-Paxos acceptor's.
    ///
    /// Slots accepted in a round above `promisedRound` were written by a Ready whose promise was torn off (the hard
    /// state follows the slots in a write): no answer depending on them ever left, since answers wait for the whole
    /// write. They are forgotten, so that every slot's round stays within the promise.
    init(recovered entries: [Entry], snapshot: Snapshot?, commitIndex: LogIndex, promisedRound: Term) throws(OptionsError) {
        self.init(baseIndex: snapshot?.lastIncludedIndex ?? 0, baseRound: snapshot?.lastIncludedTerm ?? 0)
        var newestCarry: [AcceptedValue] = []
        for entry in entries {
            guard entry.index == lastIndex.advanced(by: 1) else {
                throw OptionsError("recovered slot \(entry.index) does not follow slot \(lastIndex); the data is damaged")
            }
            do throws(DecodingFailure) {
                let (record, carried) = try StoredSlot.decode(entry)
                records.append(record)
                if !carried.isEmpty { newestCarry = carried }
            } catch {
                throw OptionsError("recovered slot \(entry.index): \(error)")
            }
        }
        let recoveredEnd = lastIndex
        // A write that replaced stored slots was torn: the slots it displaced and had not rewritten yet come back.
        for item in newestCarry where item.value.index > lastIndex {
            while lastIndex.advanced(by: 1) < item.value.index { records.append(.gap()) }
            records.append(SlotRecord(round: item.round, value: item.value))
        }
        // A torn write may also end on gaps written before the slot they led to.
        while let last = records.last, !last.isAccepted { records.removeLast() }
        storedThrough = max(lastIndex, recoveredEnd)
        durableThrough = lastIndex
        unpersistedFrom = min(recoveredEnd, lastIndex).advanced(by: 1)
        guard commitIndex <= lastIndex else {
            throw OptionsError(
                "the recovered commit index \(commitIndex.rawValue) is beyond the last recovered slot "
                    + "\(lastIndex.rawValue): chosen slots are missing from this data; replace it with a copy from a "
                    + "healthy member")
        }
        self.commitIndex = max(commitIndex, baseIndex)
        var slot = baseIndex.advanced(by: 1)
        while slot <= self.commitIndex {
            guard record(at: slot)?.isAccepted == true else {
                throw OptionsError("recovered slot \(slot) is chosen but holds no value; the data is damaged")
            }
            slot = slot.advanced(by: 1)
        }
        while slot <= lastIndex {
            let position = baseIndex.distance(to: slot) - 1
            if records[position].round > promisedRound {
                records[position] = .gap()
                unpersistedFrom = min(unpersistedFrom, slot)
            }
            slot = slot.advanced(by: 1)
        }
        while let last = records.last, !last.isAccepted { records.removeLast() }
        durableThrough = min(durableThrough, lastIndex)
    }

    var firstIndex: LogIndex { baseIndex.advanced(by: 1) }
    var lastIndex: LogIndex { baseIndex.advanced(by: records.count) }
    var hasUnpersisted: Bool { unpersistedFrom <= lastIndex }

    func record(at slot: LogIndex) -> SlotRecord? {
        guard slot > baseIndex, slot <= lastIndex else { return nil }
        return records[baseIndex.distance(to: slot) - 1]
    }

    func round(at slot: LogIndex) -> Term? {
        slot == baseIndex ? baseRound : record(at: slot)?.round
    }

    /// The accepted values in `from...lastIndex` (gaps left out), for a promise.
    func acceptedValues(from: LogIndex) -> [AcceptedValue] {
        var result: [AcceptedValue] = []
        var slot = max(from, firstIndex)
        while slot <= lastIndex {
            let record = record(at: slot)!
            if let value = record.value { result.append(AcceptedValue(round: record.round, value: value)) }
            slot = slot.advanced(by: 1)
        }
        return result
    }

    /// Values of `from...through`, cut after `bytesMax` bytes but always at least one. Precondition: none is a gap.
    func values(from: LogIndex, through: LogIndex, bytesMax: Int = .max) -> [Entry] {
        var result: [Entry] = []
        var bytes = 0
        var slot = from
        while slot <= through {
            guard let value = record(at: slot)?.value else { preconditionFailure("slot \(slot) holds no value") }
            bytes += value.encodedBytes
            if bytes > bytesMax && !result.isEmpty { break }
            result.append(value)
            slot = slot.advanced(by: 1)
        }
        return result
    }

    /// The last slot such that every slot after the commit index up to it was accepted in `round`: what this acceptor
    /// tells the leader of that round it holds (chosen slots count, whatever round they were accepted in).
    func prefix(acceptedIn round: Term) -> LogIndex {
        var slot = commitIndex
        while slot < lastIndex, records[baseIndex.distance(to: slot)].round == round {
            slot = slot.advanced(by: 1)
        }
        return slot
    }

    /// Accepts `record` at `slot`, filling any slots between the end and it with gaps.
    mutating func set(_ record: SlotRecord, at slot: LogIndex) {
        precondition(slot > commitIndex, "slot \(slot) is chosen already")
        precondition(record.value?.index == slot, "a value for another slot")
        precondition(record.value!.term <= record.round, "slot \(slot) would hold a value newer than its round")
        let firstChanged: LogIndex
        if slot > lastIndex {
            firstChanged = lastIndex.advanced(by: 1)
            while lastIndex.advanced(by: 1) < slot { records.append(.gap()) }
            records.append(record)
        } else {
            firstChanged = slot
            let position = baseIndex.distance(to: slot) - 1
            if slot <= storedThrough && displaced[slot] == nil { displaced[slot] = records[position] }
            records[position] = record
        }
        unpersistedFrom = min(unpersistedFrom, firstChanged)
        let unchanged = firstChanged.advanced(by: -1)
        durableThrough = min(durableThrough, unchanged)
        for position in pendingWrites.indices { pendingWrites[position].through = min(pendingWrites[position].through, unchanged) }
    }

    mutating func commit(through slot: LogIndex) {
        guard slot > commitIndex else { return }
        precondition(slot <= lastIndex, "commit \(slot) beyond the last slot \(lastIndex)")
        var chosen = commitIndex.advanced(by: 1)
        while chosen <= slot {
            precondition(record(at: chosen)!.isAccepted, "chosen slot \(chosen) holds no value")
            chosen = chosen.advanced(by: 1)
        }
        commitIndex = slot
    }

    /// The stored entries of every slot changed since the last call, for Ready `number`.
    mutating func take(readyNumber number: UInt64) -> [Entry] {
        guard unpersistedFrom <= lastIndex else {
            displaced.removeAll()
            return []
        }
        var carried: [AcceptedValue] = []
        if unpersistedFrom < storedThrough {
            var slot = unpersistedFrom.advanced(by: 1)
            while slot <= storedThrough {
                if let stored = displaced[slot] ?? record(at: slot), let value = stored.value { carried.append(AcceptedValue(round: stored.round, value: value)) }
                slot = slot.advanced(by: 1)
            }
        }
        var entries: [Entry] = []
        entries.reserveCapacity(unpersistedFrom.distance(to: lastIndex) + 1)
        var slot = unpersistedFrom
        while slot <= lastIndex {
            entries.append(StoredSlot.encode(record(at: slot)!, at: slot, carrying: entries.isEmpty ? carried : []))
            slot = slot.advanced(by: 1)
        }
        storedThrough = lastIndex
        unpersistedFrom = lastIndex.advanced(by: 1)
        displaced.removeAll()
        pendingWrites.append((number, lastIndex))
        return entries
    }

    /// Ready `number` is durable (and every earlier one).
    mutating func acknowledge(readyNumber number: UInt64) {
        while let first = pendingWrites.first, first.number <= number {
            pendingWrites.removeFirst()
            durableThrough = max(durableThrough, min(first.through, lastIndex))
        }
    }

    /// Chosen slots that are durable here and not yet handed out for applying.
    var applicableRange: ClosedRange<LogIndex>? {
        let upper = min(commitIndex, max(durableThrough, baseIndex))
        return upper > appliedIndex ? appliedIndex.advanced(by: 1)...upper : nil
    }

    mutating func markApplied(through slot: LogIndex) {
        precondition(slot <= commitIndex, "applying \(slot) before it is chosen")
        appliedIndex = max(appliedIndex, slot)
    }

    /// Forgets slots through `slot`, which a snapshot of this node's state machine covers.
    mutating func compact(through slot: LogIndex) {
        guard slot > baseIndex else { return }
        precondition(slot <= appliedIndex, "compacting \(slot) beyond applied \(appliedIndex)")
        baseRound = round(at: slot)!
        records.removeFirst(baseIndex.distance(to: slot))
        baseIndex = slot
        displaced = displaced.filter { $0.key > slot }
    }

    /// Installs a leader's snapshot through `slot`: slots through it are chosen and forgotten; accepted slots after
    /// it are kept (an acceptor never forgets an accepted value) and written again after the snapshot. Storage keeps
    /// its stored copies of them too (`Ready.keepsEntriesAfterSnapshot`), so a crash that tears the rewrite loses
    /// none. Returns the round to record as the snapshot's `lastIncludedTerm`.
    mutating func restore(through slot: LogIndex, leaderRound: Term) -> Term {
        precondition(slot > commitIndex, "restoring an older snapshot")
        let localRound = slot <= lastIndex ? record(at: slot)!.round : leaderRound
        if slot >= lastIndex {
            records.removeAll()
            storedThrough = slot
            displaced.removeAll()
            pendingWrites = Deque(pendingWrites.map { ($0.number, min($0.through, slot)) })
        } else {
            records.removeFirst(baseIndex.distance(to: slot))
            displaced = displaced.filter { $0.key > slot }
            // Storage keeps what it had after the snapshot; this write's carry covers a tear within the rewrite.
            storedThrough = max(storedThrough, slot)
        }
        baseIndex = slot
        baseRound = localRound
        commitIndex = slot
        appliedIndex = slot
        durableThrough = min(durableThrough, slot)
        for position in pendingWrites.indices { pendingWrites[position].through = min(pendingWrites[position].through, slot) }
        unpersistedFrom = slot.advanced(by: 1)
        return localRound
    }

    func checkInvariants() {
        precondition(baseIndex <= appliedIndex, "applied \(appliedIndex) below base \(baseIndex)")
        precondition(appliedIndex <= commitIndex, "applied \(appliedIndex) beyond commit \(commitIndex)")
        precondition(commitIndex <= lastIndex, "commit \(commitIndex) beyond last \(lastIndex)")
        precondition(durableThrough <= lastIndex, "durable \(durableThrough) beyond last \(lastIndex)")
        precondition(appliedIndex <= max(durableThrough, baseIndex), "applied \(appliedIndex) beyond durable")
        if let last = records.last { precondition(last.isAccepted, "the last slot is a gap") }
    }
}
