import QuorumCodec
import QuorumConsensus
import QuorumNode

/// The simulator's replicated state machine: integer registers by key, enough to check linearizability of
/// reads, writes and compare-and-set. It also reports every applied entry to the safety checker.
struct RegisterMachine: ReplicatedStateMachine {
    private(set) var registers: [String: Int] = [:]
    let node: NodeID
    let checker: SafetyChecker
    /// In a multi-group world, the prefix of every key of this machine's group: a command or snapshot with
    /// another group's key is a record that crossed groups.
    let group: Int?

    init(node: NodeID, checker: SafetyChecker, group: Int? = nil) {
        self.node = node
        self.checker = checker
        self.group = group
    }

    mutating func apply(_ entry: Entry) -> KVResult? {
        checker.recordApplied(entry, on: node)
        guard case .command(let bytes) = entry.kind else { return nil }
        guard let command = RegisterCommand(decoding: bytes) else {
            checker.fail("\(node) applied an undecodable command at \(entry.index)")
            return nil
        }
        if let group, let other = GroupIsolation.group(ofKey: command.key), other != group {
            checker.fail("group isolation: \(node) applied group \(other)'s entry \(entry) in group \(group)")
        }
        switch command.operation {
        case .get:
            return .value(registers[command.key])
        case .put(let value):
            registers[command.key] = value
            return .ok
        case .compareAndSet(let expected, let new):
            guard registers[command.key] == expected else { return .swapped(false) }
            registers[command.key] = new
            return .swapped(true)
        }
    }

    func snapshotImage() -> [String: Int] { registers }

    static func serialize(_ registers: [String: Int]) -> [UInt8] {
        var writer = ByteWriter()
        for key in registers.keys.sorted() {
            RegisterCommand(key: key, operation: .put(registers[key]!)).encode(into: &writer)
        }
        return writer.bytes
    }

    mutating func restore(from snapshot: [UInt8]) {
        registers.removeAll()
        var reader = ByteReader(snapshot)
        while reader.remaining > 0 {
            guard let command = RegisterCommand(reading: &reader), case .put(let value) = command.operation else {
                checker.fail("\(node) restored an undecodable snapshot")
                return
            }
            if let group, let other = GroupIsolation.group(ofKey: command.key), other != group {
                checker.fail("group isolation: \(node) restored group \(other)'s key \(command.key) in group \(group)")
            }
            registers[command.key] = value
        }
    }
}

/// A register operation as it travels through the log.
struct RegisterCommand: Hashable {
    var key: String
    var operation: KVOperation

    init(key: String, operation: KVOperation) {
        self.key = key
        self.operation = operation
    }

    init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let command = RegisterCommand(reading: &reader), reader.remaining == 0 else { return nil }
        self = command
    }

    /// Reads one command; nil if the bytes are not one.
    init?(reading reader: inout ByteReader) {
        guard let command = try? RegisterCommand.read(from: &reader) else { return nil }
        self = command
    }

    private static func read(from reader: inout ByteReader) throws(DecodingFailure) -> RegisterCommand {
        let tag = try reader.readByte("tag")
        let keyLength = try reader.readByte("key length")
        let key = String(decoding: try reader.readBytes(count: UInt64(keyLength), "key"), as: UTF8.self)
        func value(_ field: String) throws(DecodingFailure) -> Int { Int(bitPattern: UInt(try reader.read(UInt64.self, field))) }
        switch tag {
        case 0: return RegisterCommand(key: key, operation: .get)
        case 1: return RegisterCommand(key: key, operation: .put(try value("value")))
        case 2: return RegisterCommand(key: key, operation: .compareAndSet(expected: nil, new: try value("new")))
        case 3:
            let new = try value("new")
            return RegisterCommand(key: key, operation: .compareAndSet(expected: try value("expected"), new: new))
        default: throw .invalid(field: "tag", value: UInt64(tag))
        }
    }

    func encode(into writer: inout ByteWriter) {
        let key = Array(key.utf8)
        precondition(key.count < 256, "register keys are short")
        func write(_ tag: UInt8, _ values: Int...) {
            writer.write(tag)
            writer.write(UInt8(key.count))
            writer.write(contentsOf: key)
            for value in values { writer.write(UInt64(bitPattern: Int64(value))) }
        }
        switch operation {
        case .get: write(0)
        case .put(let value): write(1, value)
        case .compareAndSet(nil, let new): write(2, new)
        case .compareAndSet(let expected?, let new): write(3, new, expected)
        }
    }

    var encoded: [UInt8] {
        var writer = ByteWriter()
        encode(into: &writer)
        return writer.bytes
    }
}
