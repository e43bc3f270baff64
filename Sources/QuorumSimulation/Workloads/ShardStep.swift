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
        ShardMap.write(keys, to: &writer)
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

    private static func read(from reader: inout ByteReader) throws -> ShardStep {
        let tag = try reader.readByte("tag")
        guard tag == Self.tag else { throw DecodingFailure.invalid(field: "tag", value: UInt64(tag)) }
        let move = Int(try reader.read(UInt64.self, "move"))
        let keys = try ShardMap.readKeys(&reader)
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
                    throw DecodingFailure.invalid(field: "adopted key", value: 0)
                }
                values[command.key] = value
            }
            kind = .adoptKeys(values)
        case 4: kind = .finishImport
        case 5: kind = .dropKeys
        default: throw DecodingFailure.invalid(field: "step", value: UInt64(code))
        }
        return ShardStep(move: move, keys: keys, kind: kind)
    }
}
