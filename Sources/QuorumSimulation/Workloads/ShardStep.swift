import QuorumCodec
import QuorumConsensus
import QuorumSharding

/// One step of a move of keys between groups, as it travels through the log of the group it concerns: the steps
/// `StoreCommand` carries in the server (`importKeys`, `releaseKeys`, `exportKeys`, `adoptKeys`, `finishImport`,
/// `dropKeys`), each tagged with the move it belongs to so that the ownership checker can tell a move's first
/// application of a step from a repeat.
struct ShardStep: Hashable {
    enum Kind: Hashable {
        case importKeys(from: GroupID)
        case releaseKeys(to: GroupID)
        /// Reads the released keys with their values, at this point of the source's log.
        case exportKeys
        case adoptKeys([String: Int])
        case finishImport
        case dropKeys
    }

    var move: Int
    var keys: KeySelector
    var kind: Kind

    /// Tags after `RegisterCommand`'s, so that a reader of register commands stops at a step.
    static let tag: UInt8 = 0x10

    var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.tag)
        writer.write(UInt64(move))
        Self.write(keys, into: &writer)
        func group(_ code: UInt8, _ group: GroupID) {
            writer.write(code)
            writer.write(group.rawValue)
        }
        switch kind {
        case .importKeys(let source): group(0, source)
        case .releaseKeys(let target): group(1, target)
        case .exportKeys: writer.write(UInt8(2))
        case .adoptKeys(let values):
            writer.write(UInt8(3))
            writer.write(UInt64(values.count))
            for key in values.keys.sorted() {
                RegisterCommand(key: key, operation: .put(values[key]!)).encode(into: &writer)
            }
        case .finishImport: writer.write(UInt8(4))
        case .dropKeys: writer.write(UInt8(5))
        }
        return writer.bytes
    }

    /// Nil if the bytes are not a step (a register command, for one).
    init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let step = try? Self.read(from: &reader), reader.remaining == 0 else { return nil }
        self = step
    }

    init(move: Int, keys: KeySelector, kind: Kind) {
        self.move = move
        self.keys = keys
        self.kind = kind
    }

    private static func read(from reader: inout ByteReader) throws(DecodingFailure) -> ShardStep {
        let tag = try reader.readByte("tag")
        guard tag == Self.tag else { throw .invalid(field: "tag", value: UInt64(tag)) }
        let move = Int(try reader.read(UInt64.self, "move"))
        let keys = try readSelector(from: &reader)
        let code = try reader.readByte("step")
        let kind: Kind
        switch code {
        case 0: kind = .importKeys(from: GroupID(try reader.read(UInt64.self, "source")))
        case 1: kind = .releaseKeys(to: GroupID(try reader.read(UInt64.self, "target")))
        case 2: kind = .exportKeys
        case 3:
            var values: [String: Int] = [:]
            for _ in 0..<(try reader.read(UInt64.self, "count")) {
                guard let command = RegisterCommand(reading: &reader), case .put(let value) = command.operation else {
                    throw .invalid(field: "adopted key", value: 0)
                }
                values[command.key] = value
            }
            kind = .adoptKeys(values)
        case 4: kind = .finishImport
        case 5: kind = .dropKeys
        default: throw .invalid(field: "step", value: UInt64(code))
        }
        return ShardStep(move: move, keys: keys, kind: kind)
    }

    static func write(_ keys: KeySelector, into writer: inout ByteWriter) {
        switch keys {
        case .slots(let slots):
            writer.write(UInt8(0))
            writer.write(UInt64(slots.lowerBound))
            writer.write(UInt64(slots.upperBound))
        case .span(let span):
            writer.write(UInt8(1))
            write(span, into: &writer)
        }
    }

    static func readSelector(from reader: inout ByteReader) throws(DecodingFailure) -> KeySelector {
        switch try reader.readByte("selector") {
        case 0:
            let lower = Int(try reader.read(UInt64.self, "first slot"))
            let upper = Int(try reader.read(UInt64.self, "last slot"))
            guard lower <= upper, upper < HashSlot.count else { throw .invalid(field: "slots", value: UInt64(lower)) }
            return .slots(lower...upper)
        case 1: return .span(try readSpan(from: &reader))
        case let other: throw .invalid(field: "selector", value: UInt64(other))
        }
    }

    static func write(_ span: KeySpan, into writer: inout ByteWriter) {
        writeBytes(span.start, into: &writer)
        writer.write(UInt8(span.end == nil ? 0 : 1))
        if let end = span.end { writeBytes(end, into: &writer) }
    }

    static func readSpan(from reader: inout ByteReader) throws(DecodingFailure) -> KeySpan {
        let start = try readBytes(from: &reader)
        let end = try reader.readByte("span end") == 0 ? nil : try readBytes(from: &reader)
        guard let span = KeySpan(start: start, end: end) else { throw .invalid(field: "span", value: 0) }
        return span
    }

    private static func writeBytes(_ bytes: [UInt8], into writer: inout ByteWriter) {
        writer.write(UInt8(bytes.count))
        writer.write(contentsOf: bytes)
    }

    private static func readBytes(from reader: inout ByteReader) throws(DecodingFailure) -> [UInt8] {
        let count = try reader.readByte("length")
        return try reader.readBytes(count: UInt64(count), "bytes")
    }
}
