import QuorumConsensus
import QuorumNode

/// The simulator's replicated state machine: integer registers by key, enough to check linearizability of
/// reads, writes and compare-and-set. It also reports every applied entry to the safety checker.
struct RegisterMachine: ReplicatedStateMachine {
    private(set) var registers: [String: Int] = [:]
    let node: NodeID
    let checker: SafetyChecker

    init(node: NodeID, checker: SafetyChecker) {
        self.node = node
        self.checker = checker
    }

    mutating func apply(_ entry: Entry) -> KVResult? {
        checker.recordApplied(entry, on: node)
        guard case .command(let bytes) = entry.kind else { return nil }
        guard let command = RegisterCommand(decoding: bytes) else {
            checker.fail("\(node) applied an undecodable command at \(entry.index)")
            return nil
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

    func snapshot() -> [UInt8] {
        var bytes: [UInt8] = []
        for key in registers.keys.sorted() {
            RegisterCommand(key: key, operation: .put(registers[key]!)).encode(into: &bytes)
        }
        return bytes
    }

    mutating func restore(from snapshot: [UInt8]) {
        registers.removeAll()
        var reader = ByteReader(snapshot)
        while !reader.isAtEnd {
            guard let command = RegisterCommand(reading: &reader), case .put(let value) = command.operation else {
                checker.fail("\(node) restored an undecodable snapshot")
                return
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
        guard let command = RegisterCommand(reading: &reader), reader.isAtEnd else { return nil }
        self = command
    }

    init?(reading reader: inout ByteReader) {
        guard let tag = reader.byte(), let keyLength = reader.byte(), let key = reader.bytes(Int(keyLength)) else {
            return nil
        }
        self.key = String(decoding: key, as: UTF8.self)
        switch tag {
        case 0: operation = .get
        case 1:
            guard let value = reader.int() else { return nil }
            operation = .put(value)
        case 2, 3:
            guard let new = reader.int() else { return nil }
            var expected: Int?
            if tag == 3 {
                guard let value = reader.int() else { return nil }
                expected = value
            }
            operation = .compareAndSet(expected: expected, new: new)
        default: return nil
        }
    }

    func encode(into bytes: inout [UInt8]) {
        let key = Array(key.utf8)
        precondition(key.count < 256, "register keys are short")
        switch operation {
        case .get: bytes += [0, UInt8(key.count)] + key
        case .put(let value): bytes += [1, UInt8(key.count)] + key + value.littleEndianBytes
        case .compareAndSet(nil, let new): bytes += [2, UInt8(key.count)] + key + new.littleEndianBytes
        case .compareAndSet(let expected?, let new):
            bytes += [3, UInt8(key.count)] + key + new.littleEndianBytes + expected.littleEndianBytes
        }
    }

    var encoded: [UInt8] {
        var bytes: [UInt8] = []
        encode(into: &bytes)
        return bytes
    }
}

struct ByteReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position == bytes.count }

    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count <= bytes.count - position else { return nil }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    mutating func int() -> Int? {
        guard let raw = bytes(8) else { return nil }
        return Int(littleEndian: raw.withUnsafeBytes { $0.loadUnaligned(as: Int.self) })
    }
}

extension Int {
    var littleEndianBytes: [UInt8] { withUnsafeBytes(of: littleEndian) { Array($0) } }
}
