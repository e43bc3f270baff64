import QuorumCodec
import QuorumConsensus
import Testing

@testable import QuorumStorage

@Suite("Record codec")
struct RecordCodecTests {
    static let entries: [Entry] = [
        Entry(term: 1, index: 1, kind: .noop),
        Entry(term: 7, index: 42, kind: .command([])),
        Entry(term: .init(UInt64.max), index: .init(UInt64(Int.max)), kind: .command(Array(0...255))),
        Entry(term: 3, index: 5, kind: .configurationChange(.addLearner(4, promoteWhenCaughtUp: true))),
        Entry(term: 3, index: 6, kind: .configurationChange(.addLearner(5, promoteWhenCaughtUp: false))),
        Entry(term: 3, index: 7, kind: .configurationChange(.promote(4))),
        Entry(term: 3, index: 8, kind: .configurationChange(.remove(2))),
    ]

    static let snapshot = Snapshot(
        lastIncludedIndex: 100, lastIncludedTerm: 9,
        configuration: Configuration(voters: [1, 2, 3], learners: [4, 5], learnersToPromote: [5]),
        data: Array("state machine image".utf8))

    @Test("entries of every kind round-trip", arguments: entries)
    func entryRoundTrip(entry: Entry) throws {
        var writer = ByteWriter()
        entry.encode(into: &writer)
        var reader = ByteReader(writer.bytes)
        #expect(try Entry.decode(from: &reader) == entry)
    }

    @Test("hard states round-trip, with and without a vote")
    func hardStateRoundTrip() throws {
        for hardState in [HardState(), HardState(term: 5, votedFor: 3, commitIndex: 17)] {
            var writer = ByteWriter()
            hardState.encode(into: &writer)
            var reader = ByteReader(writer.bytes)
            #expect(try HardState.decode(from: &reader) == hardState)
        }
    }

    @Test("snapshots round-trip")
    func snapshotRoundTrip() throws {
        var writer = ByteWriter()
        Self.snapshot.encode(into: &writer)
        var reader = ByteReader(writer.bytes)
        #expect(try Snapshot.decode(from: &reader) == Self.snapshot)
    }

    @Test("every truncation of an encoded entry and snapshot is refused, never trapped")
    func truncationsRefused() {
        var entryWriter = ByteWriter()
        Self.entries[3].encode(into: &entryWriter)
        for length in 0..<entryWriter.bytes.count {
            var reader = ByteReader(Array(entryWriter.bytes[..<length]))
            #expect(throws: DecodingFailure.self) { try Entry.decode(from: &reader) }
        }
        var snapshotWriter = ByteWriter()
        Self.snapshot.encode(into: &snapshotWriter)
        for length in 0..<snapshotWriter.bytes.count {
            var reader = ByteReader(Array(snapshotWriter.bytes[..<length]))
            #expect(throws: DecodingFailure.self) { try Snapshot.decode(from: &reader) }
        }
    }

    @Test("a huge claimed length or count is refused before allocating")
    func hugeLengthsRefused() {
        var writer = ByteWriter()
        writer.write(UInt8(1))
        writer.write(UInt64(1))
        writer.write(UInt64(1))
        writer.write(UInt8(1))
        writer.write(UInt32.max)  // command length: 4 GiB claimed, nothing present
        var reader = ByteReader(writer.bytes)
        #expect(throws: DecodingFailure.truncated(field: "command bytes")) { try Entry.decode(from: &reader) }

        var snapshot = ByteWriter()
        snapshot.write(UInt8(1))
        snapshot.write(UInt64(1))
        snapshot.write(UInt64(1))
        snapshot.write(UInt32.max)  // voter count
        var snapshotReader = ByteReader(snapshot.bytes)
        #expect(throws: DecodingFailure.truncated(field: "voters count")) { try Snapshot.decode(from: &snapshotReader) }
    }

    @Test("an unknown encoding version, an unknown kind, node 0 and trailing bytes are refused")
    func invalidContentRefused() {
        var writer = ByteWriter()
        Self.entries[0].encode(into: &writer)
        var future = writer.bytes
        future[0] = 2
        var reader = ByteReader(future)
        #expect(throws: DecodingFailure.unsupportedVersion(what: "entry", version: 2)) {
            try Entry.decode(from: &reader)
        }
        var unknownKind = writer.bytes
        unknownKind[17] = 9
        reader = ByteReader(unknownKind)
        #expect(throws: DecodingFailure.invalid(field: "entry kind", value: 9)) { try Entry.decode(from: &reader) }
        // Decoding reads one entry; the record around it is what must end there.
        reader = ByteReader(writer.bytes + [0])
        #expect(throws: DecodingFailure.trailingBytes(what: "entry record", count: 1)) {
            _ = try Entry.decode(from: &reader)
            try reader.expectEnd(of: "entry record")
        }

        var change = ByteWriter()
        Entry(term: 1, index: 1, kind: .configurationChange(.promote(1))).encode(into: &change)
        var zeroNode = change.bytes
        for offset in 19..<27 { zeroNode[offset] = 0 }
        reader = ByteReader(zeroNode)
        #expect(throws: DecodingFailure.self) { try Entry.decode(from: &reader) }
    }

    @Test("a snapshot configuration that would trip Configuration's preconditions is refused")
    func inconsistentConfigurationRefused() {
        var writer = ByteWriter()
        writer.write(UInt8(1))
        writer.write(UInt64(10))
        writer.write(UInt64(2))
        writer.write(UInt32(1))
        writer.write(UInt64(1))  // voters {1}
        writer.write(UInt32(1))
        writer.write(UInt64(1))  // learners {1}: overlaps
        writer.write(UInt32(0))
        writer.write(UInt64(0))
        var reader = ByteReader(writer.bytes)
        #expect(throws: DecodingFailure.self) { try Snapshot.decode(from: &reader) }
    }

    @Test("a framed record parses back; flipping any single bit is detected")
    func frameBitFlipsDetected() {
        var writer = ByteWriter()
        RecordFrame.append(.entry, to: &writer) { Self.entries[2].encode(into: &$0) }
        let bytes = writer.bytes
        guard
            case .record(.entry, let payload, let next) =
                RecordFrame.parse(bytes, at: 0, end: bytes.count, payloadBytesMax: 1 << 20)
        else {
            Issue.record("record did not parse")
            return
        }
        #expect(next == bytes.count)
        var reader = ByteReader(bytes, range: payload)
        #expect((try? Entry.decode(from: &reader)) == Self.entries[2])
        for offset in 0..<bytes.count {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[offset] ^= UInt8(1 << bit)
                let parsed = RecordFrame.parse(flipped, at: 0, end: flipped.count, payloadBytesMax: 1 << 20)
                if case .record = parsed { Issue.record("bit \(bit) of byte \(offset) flipped went undetected") }
            }
        }
    }

    @Test("a record longer than the maximum is refused from its header alone")
    func oversizedRecordRefused() {
        var writer = ByteWriter()
        RecordFrame.append(.entry, to: &writer) { Self.entries[2].encode(into: &$0) }
        let parsed = RecordFrame.parse(writer.bytes, at: 0, end: writer.bytes.count, payloadBytesMax: 16)
        guard case .invalid(let reason) = parsed else {
            Issue.record("expected invalid, got \(parsed)")
            return
        }
        #expect(reason.contains("exceeds the maximum"))
    }
}

extension RecordCodecTests {
    @Test("an index above Int.max, which the core's index arithmetic cannot hold, is refused")
    func hugeIndexRefused() {
        var writer = ByteWriter()
        writer.write(UInt8(1))
        writer.write(UInt64(1))
        writer.write(UInt64.max)
        writer.write(UInt8(0))
        var reader = ByteReader(writer.bytes)
        #expect(throws: DecodingFailure.invalid(field: "entry index", value: UInt64.max)) {
            try Entry.decode(from: &reader)
        }
    }
}

extension RecordCodecTests {
    @Test("the predicted encoded size is exact", arguments: entries)
    func encodedSizeIsExact(entry: Entry) {
        var writer = ByteWriter()
        entry.encode(into: &writer)
        #expect(writer.bytes.count == entry.encodedBytes)
    }
}
