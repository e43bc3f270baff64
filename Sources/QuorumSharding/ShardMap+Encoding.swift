import QuorumCodec
import QuorumConsensus

/// Encoding (little-endian): `version:u8 rangeCount:u32 {first:u16 last:u16 group:u64}
/// keyspaceCount:u32 {prefix pieceCount:u32 {span group:u64}} migrationCount:u32 {keys from:u64 to:u64}`, where a
/// byte string is `length:u32 bytes`, a span is `start hasEnd:u8 [end]`, and keys are `1 first:u16 last:u16`
/// (slots) or `2 span`. The epoch is not encoded: it is the stored key's version.
extension ShardMap {
    private static let formatVersion: UInt8 = 1
    /// Longer prefixes and span bounds are refused; keys are at most this long anyway.
    static let keyBytesMax = 4096
    /// Spans per keyspace; bounds the work of checking a map.
    public static let spansMax = 4096

    public var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.formatVersion)
        writer.write(UInt32(assignment.ranges.count))
        for range in assignment.ranges {
            writer.write(UInt16(range.slots.lowerBound))
            writer.write(UInt16(range.slots.upperBound))
            writer.write(range.group.rawValue)
        }
        writer.write(UInt32(keyspaces.count))
        for keyspace in keyspaces {
            Self.write(keyspace.prefix, to: &writer)
            writer.write(UInt32(keyspace.owners.pieces.count))
            for piece in keyspace.owners.pieces {
                Self.write(piece.span, to: &writer)
                writer.write(piece.value.rawValue)
            }
        }
        writer.write(UInt32(migrations.count))
        for migration in migrations {
            Self.write(migration.keys, to: &writer)
            writer.write(migration.from.rawValue)
            writer.write(migration.to.rawValue)
        }
        return writer.bytes
    }

    /// Decodes and checks a map: every slot owned once, every keyspace covered, each move within one group's keys
    /// and to another.
    public init(decoding bytes: [UInt8], epoch: UInt64) throws(ShardMapError) {
        do {
            self = try Self.decode(bytes, epoch: epoch)
        } catch let failure as ShardMapError {
            throw failure
        } catch {
            throw .malformed("\(error)")
        }
    }

    private static func decode(_ bytes: [UInt8], epoch: UInt64) throws -> ShardMap {
        var reader = ByteReader(bytes)
        let version = try reader.readByte("shard map version")
        guard version == formatVersion else { throw ShardMapError.malformed("unknown version \(version)") }
        let rangeCount = try reader.readCount("slot ranges", minimumItemBytes: 12)
        var ranges: [SlotAssignment.SlotRange] = []
        for _ in 0..<rangeCount {
            let slots = try readSlots(&reader)
            let group = try readGroup(&reader)
            ranges.append(SlotAssignment.SlotRange(slots: slots, group: group))
        }
        var map = ShardMap(epoch: epoch, assignment: try SlotAssignment(validating: ranges))
        let keyspaceCount = try reader.readCount("keyspaces", minimumItemBytes: 8)
        for _ in 0..<keyspaceCount {
            let prefix = try readBytes(&reader)
            let pieceCount = try reader.readCount("keyspace spans", minimumItemBytes: 13)
            guard (1...spansMax).contains(pieceCount) else {
                throw ShardMapError.malformed("a keyspace of \(pieceCount) spans")
            }
            let whole = KeySpan(prefix: prefix)
            var owners = KeySpanMap<GroupID>()
            var pieces: [(span: KeySpan, group: GroupID)] = []
            for _ in 0..<pieceCount {
                let piece = (span: try readSpan(&reader), group: try readGroup(&reader))
                guard whole.covers(piece.span) else { throw ShardMapError.malformed("\(piece.span) is outside its keyspace") }
                owners.set(piece.span, to: piece.group)
                pieces.append(piece)
            }
            // Stored as normalized: the same spans back, in order, covering the whole keyspace.
            guard owners.pieces.elementsEqual(pieces, by: { $0.span == $1.span && $0.value == $1.group }),
                owners.parts(of: whole).allSatisfy({ $0.value != nil })
            else { throw ShardMapError.malformed("the spans of \(KeySpan.printable(prefix)) do not cover it in order") }
            map = try map.declaring(prefix: prefix, owner: pieces[0].group)
            if let index = map.keyspaces.firstIndex(where: { $0.prefix == prefix }) {
                map.keyspaces[index].owners = owners
            }
        }
        let migrationCount = try reader.readCount("migrations", minimumItemBytes: 21)
        for _ in 0..<migrationCount {
            let keys = try readKeys(&reader)
            let from = try readGroup(&reader)
            let to = try readGroup(&reader)
            guard try map.owners(of: keys) == [from] else {
                throw ShardMapError.malformed("a move does not start from the owner of its keys")
            }
            map = try map.beginning(keys, to: to)
        }
        try reader.expectEnd(of: "shard map")
        return map
    }

    private static func write(_ bytes: [UInt8], to writer: inout ByteWriter) {
        writer.write(UInt32(bytes.count))
        writer.write(contentsOf: bytes)
    }

    // The encodings of spans and key selectors are the package's one: the simulator's move steps use them too.
    package static func write(_ span: KeySpan, to writer: inout ByteWriter) {
        write(span.start, to: &writer)
        writer.write(UInt8(span.end == nil ? 0 : 1))
        if let end = span.end { write(end, to: &writer) }
    }

    package static func write(_ keys: KeySelector, to writer: inout ByteWriter) {
        switch keys {
        case .slots(let slots):
            writer.write(UInt8(1))
            writer.write(UInt16(slots.lowerBound))
            writer.write(UInt16(slots.upperBound))
        case .span(let span):
            writer.write(UInt8(2))
            write(span, to: &writer)
        }
    }

    private static func readBytes(_ reader: inout ByteReader) throws -> [UInt8] {
        let count = try reader.read(UInt32.self, "key length")
        guard count <= keyBytesMax else { throw ShardMapError.malformed("a key of \(count) bytes") }
        return try reader.readBytes(count: UInt64(count), "key")
    }

    package static func readSpan(_ reader: inout ByteReader) throws -> KeySpan {
        let start = try readBytes(&reader)
        let end = try reader.readBool("span has an end") ? try readBytes(&reader) : nil
        guard let span = KeySpan(start: start, end: end) else { throw ShardMapError.malformed("an empty span") }
        return span
    }

    package static func readKeys(_ reader: inout ByteReader) throws -> KeySelector {
        switch try reader.readByte("move kind") {
        case 1: return .slots(try readSlots(&reader))
        case 2: return .span(try readSpan(&reader))
        case let other: throw ShardMapError.malformed("unknown move kind \(other)")
        }
    }

    private static func readGroup(_ reader: inout ByteReader) throws -> GroupID {
        let group = GroupID(try reader.read(UInt64.self, "group"))
        guard group.rawValue != 0 else { throw ShardMapError.malformed("group 0 does not exist") }
        return group
    }

    private static func readSlots(_ reader: inout ByteReader) throws -> ClosedRange<Int> {
        let first = Int(try reader.read(UInt16.self, "first slot"))
        let last = Int(try reader.read(UInt16.self, "last slot"))
        guard first <= last, last < HashSlot.count else {
            throw ShardMapError.malformed("slot range \(first)-\(last) is empty or outside 0-\(HashSlot.count - 1)")
        }
        return first...last
    }
}
