import QuorumCodec

/// What an acceptor holds for one slot: the value it accepted and the round of the ballot it accepted it in.
struct SlotRecord: Hashable, Sendable {
    /// Zero: nothing accepted here (a slot below an accepted one that this acceptor has not heard of).
    var round: Term
    /// Nil exactly when `round` is zero.
    var value: Entry?

    static func gap() -> SlotRecord { SlotRecord(round: 0, value: nil) }

    var isAccepted: Bool { value != nil }
}

/// How an acceptor's slots are stored through the shared log interface (`Ready.entries`, `RecoveredState.entries`):
/// one stored entry per slot, at the slot's index, whose `term` is the round the slot's value was accepted in (0 for
/// none) and whose command bytes hold the value:
///
///     magic "PXS1" | hasValue u8 | value: Entry encoding (if hasValue)
///     | carried count u32 | carried: (round u64 | value: Entry encoding)…
///
/// Storage replaces every stored entry at or after the index it writes, so rewriting an accepted slot in a newer
/// ballot rewrites every later slot too, and a torn write (a crash keeps a prefix of the batch) could then lose later
/// slots this acceptor had already acknowledged: an acceptor that forgets an accepted value breaks Paxos. So the first
/// entry of a write that replaces stored slots carries the stored versions of the later slots it displaces; recovery
/// restores, from the newest such carry, any slot the log lost beyond its end.
enum StoredSlot {
    static let magic: [UInt8] = [0x50, 0x58, 0x53, 0x31]

    static func encode(_ record: SlotRecord, at slot: LogIndex, carrying carried: [AcceptedValue]) -> Entry {
        var writer = ByteWriter()
        writer.write(contentsOf: magic)
        if let value = record.value {
            writer.write(UInt8(1))
            value.encode(into: &writer)
        } else {
            writer.write(UInt8(0))
        }
        writer.write(UInt32(carried.count))
        for item in carried {
            writer.write(item.round.rawValue)
            item.value.encode(into: &writer)
        }
        return Entry(term: record.round, index: slot, kind: .command(writer.bytes))
    }

    /// Decodes one stored slot and what it carries; every field is checked, since a disk can hand back anything.
    static func decode(_ entry: Entry) throws(DecodingFailure) -> (record: SlotRecord, carried: [AcceptedValue]) {
        guard case .command(let bytes) = entry.kind else {
            throw .inconsistent("stored slot \(entry.index) is not a Multi-Paxos slot record; was this data written by Raft?")
        }
        var reader = ByteReader(bytes)
        for expected in magic {
            guard try reader.readByte("slot record magic") == expected else {
                throw .inconsistent(
                    "stored slot \(entry.index) is not a Multi-Paxos slot record; was this data written by Raft?")
            }
        }
        var record = SlotRecord.gap()
        if try reader.readBool("slot has value") {
            let value = try Entry.decode(from: &reader)
            guard value.index == entry.index else {
                throw .inconsistent("slot \(entry.index) holds a value for slot \(value.index)")
            }
            guard entry.term > 0, value.term <= entry.term else {
                throw .inconsistent("slot \(entry.index) holds a value of round \(value.term) accepted in round \(entry.term)")
            }
            record = SlotRecord(round: entry.term, value: value)
        } else if entry.term != 0 {
            throw .inconsistent("slot \(entry.index) has round \(entry.term) but no value")
        }
        let count = try reader.readCount("carried slot count", minimumItemBytes: 26)
        var carried: [AcceptedValue] = []
        carried.reserveCapacity(count)
        var previous = entry.index
        for _ in 0..<count {
            let round = Term(try reader.read(UInt64.self, "carried round"))
            let value = try Entry.decode(from: &reader)
            guard value.index > previous else {
                throw .inconsistent("slot \(entry.index) carries slot \(value.index) out of order")
            }
            guard round > 0, value.term <= round else {
                throw .inconsistent("slot \(entry.index) carries slot \(value.index) with round \(round)")
            }
            previous = value.index
            carried.append(AcceptedValue(round: round, value: value))
        }
        try reader.expectEnd(of: "slot record")
        return (record, carried)
    }
}
