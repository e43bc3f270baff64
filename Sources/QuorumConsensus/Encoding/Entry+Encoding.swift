import QuorumCodec

/// Binary encoding (log records, snapshots and the wire share it) of a log entry, version 1 (all integers little-endian):
///
///     version u8 = 1 | term u64 | index u64 | kind u8
///     kind 0 noop
///     kind 1 command:             length u32 | bytes
///     kind 2 configuration change: change u8 (0 add learner, 1 promote, 2 remove) | node u64
///                                  | promoteWhenCaughtUp u8 (add learner only)
extension Entry {
    public static let encodingVersion: UInt8 = 1

    /// Exactly the number of bytes `encode(into:)` writes; batching and flow control count entries by it.
    public var encodedBytes: Int {
        switch kind {
        case .noop: 18
        case .command(let bytes): 22 + bytes.count
        case .configurationChange(.addLearner): 28
        case .configurationChange: 27
        }
    }

    public func encode(into writer: inout ByteWriter) {
        writer.write(Entry.encodingVersion)
        writer.write(term.rawValue)
        writer.write(index.rawValue)
        switch kind {
        case .noop:
            writer.write(UInt8(0))
        case .command(let bytes):
            precondition(bytes.count <= Int(UInt32.max), "command larger than 4 GiB")
            writer.write(UInt8(1))
            writer.write(UInt32(bytes.count))
            writer.write(contentsOf: bytes)
        case .configurationChange(let change):
            writer.write(UInt8(2))
            switch change {
            case .addLearner(let node, let promoteWhenCaughtUp):
                writer.write(UInt8(0))
                writer.write(node.rawValue)
                writer.write(UInt8(promoteWhenCaughtUp ? 1 : 0))
            case .promote(let node):
                writer.write(UInt8(1))
                writer.write(node.rawValue)
            case .remove(let node):
                writer.write(UInt8(2))
                writer.write(node.rawValue)
            }
        }
    }

    /// Decodes one entry; the caller checks what follows.
    public static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> Entry {
        let version = try reader.readByte("entry version")
        guard version == encodingVersion else { throw .unsupportedVersion(what: "entry", version: version) }
        let term = Term(try reader.read(UInt64.self, "entry term"))
        let index = try reader.readLogIndex("entry index")
        guard index > .zero else { throw .invalid(field: "entry index", value: 0) }
        let kind: Kind
        switch try reader.readByte("entry kind") {
        case 0:
            kind = .noop
        case 1:
            let length = try reader.read(UInt32.self, "command length")
            kind = .command(try reader.readBytes(count: UInt64(length), "command bytes"))
        case 2:
            kind = .configurationChange(try decodeChange(from: &reader))
        case let other:
            throw .invalid(field: "entry kind", value: UInt64(other))
        }
        return Entry(term: term, index: index, kind: kind)
    }

    private static func decodeChange(from reader: inout ByteReader) throws(DecodingFailure) -> ConfigurationChange {
        let change = try reader.readByte("configuration change")
        let node = try reader.readNodeID("configuration change node")
        switch change {
        case 0:
            switch try reader.readByte("promoteWhenCaughtUp") {
            case 0: return .addLearner(node, promoteWhenCaughtUp: false)
            case 1: return .addLearner(node, promoteWhenCaughtUp: true)
            case let other: throw .invalid(field: "promoteWhenCaughtUp", value: UInt64(other))
            }
        case 1: return .promote(node)
        case 2: return .remove(node)
        default: throw .invalid(field: "configuration change", value: UInt64(change))
        }
    }
}

