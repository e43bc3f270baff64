import QuorumCodec
import QuorumConsensus
import QuorumNode
import QuorumSharding
import QuorumStore

/// The simulator's replicated state machine: integer registers by key, enough to check linearizability of
/// reads, writes and compare-and-set. It also reports every applied entry to the safety checker.
///
/// In a sharded world it also holds its group's `KeyOwnership` (QuorumSharding's, as the store does): it refuses a
/// key its group released or is still importing, and carries out the steps of moves (`ShardStep`).
struct RegisterMachine: ReplicatedStateMachine {
    private(set) var registers: [String: Int] = [:]
    let node: NodeID
    let checker: SafetyChecker
    /// In a multi-group world, the prefix of every key of this machine's group: a command or snapshot with
    /// another group's key is a record that crossed groups.
    let group: Int?
    /// In a sharded world: which keys this group serves.
    private(set) var shards: ShardedRegisters?
    /// In a world that runs the real store (`SimulationOptions.runsStore`): the store, whose answers the clients
    /// get. `registers` then holds what plain registers would, and each answer of the store is checked against it.
    private(set) var store: KeyValueStore?
    /// With the store: each client session's newest sequence and what a register answered to it, so that a retry
    /// of it is answered the same without taking effect again (the model of the store's sessions).
    private var sessions: [ClientID: (sequence: SequenceNumber, result: KVResult)] = [:]
    /// `InjectedBug.restoreLosesAKey`.
    private let restoreLosesAKey: Bool

    init(
        node: NodeID, checker: SafetyChecker, group: Int? = nil, shards: ShardedRegisters? = nil,
        runsStore: Bool = false, injectedBug: InjectedBug? = nil
    ) {
        precondition(!runsStore || shards == nil, "a sharded world runs plain registers")
        self.node = node
        self.checker = checker
        self.group = group
        self.shards = shards
        self.store = runsStore ? KeyValueStore() : nil
        self.restoreLosesAKey = injectedBug == .restoreLosesAKey
    }

    mutating func apply(_ entry: Entry) -> RegisterOutput? {
        checker.recordApplied(entry, on: node)
        guard case .command(let bytes) = entry.kind else { return nil }
        if store != nil { return applyToStore(bytes, at: entry.index) }
        if let step = ShardStep(decoding: bytes), shards != nil {
            return shards!.apply(step, at: entry.index, to: &registers)
        }
        guard let command = RegisterCommand(decoding: bytes) else {
            checker.fail("\(node) applied an undecodable command at \(entry.index)")
            return nil
        }
        checkIsolation(of: command.key, "applied entry \(entry)")
        if let shards {
            if let refusal = shards.refusal(forKey: command.key) { return .refused(refusal) }
            if let violation = shards.misplaced(command.key, servedAfter: entry.index.advanced(by: -1)) {
                checker.fail("\(node) applied \(command) at \(entry.index): \(violation)")
            }
        }
        return .result(applyToRegisters(command))
    }

    private mutating func applyToRegisters(_ command: RegisterCommand) -> KVResult {
        let (value, result) = RegisterModel.apply(command.operation, to: registers[command.key])
        registers[command.key] = value
        return result
    }

    /// Applies a store proposal to the store, and its register command to `registers`, and checks that the two
    /// answer alike.
    private mutating func applyToStore(_ bytes: [UInt8], at index: LogIndex) -> RegisterOutput? {
        guard let proposal = try? StoreProposal(decoding: bytes), let command = StoreRegisters.command(of: proposal)
        else {
            checker.fail("\(node) applied an undecodable store proposal at \(index)")
            return nil
        }
        checkIsolation(of: command.key, "applied \(command) at \(index)")
        let answer = store!.apply(proposal).result
        let expected: KVResult
        if let session = proposal.session, let known = sessions[session.client], session.sequence <= known.sequence {
            guard session.sequence == known.sequence else {
                // A late attempt of a write its client has given up on: refused, and no client waits for it.
                guard case .failed(.staleSequence) = answer else {
                    checker.fail("\(node) at \(index): the store answered \(answer) to a stale retry of \(command)")
                    return nil
                }
                return nil
            }
            expected = known.result
        } else {
            expected = applyToRegisters(command)
            if let session = proposal.session { sessions[session.client] = (session.sequence, expected) }
        }
        guard let result = StoreRegisters.result(of: answer, for: command), result == expected else {
            checker.fail(
                "\(node) at \(index): the store answered \(answer) to \(command), where a register answers \(expected)")
            return nil
        }
        return .result(result)
    }

    private func checkIsolation(of key: String, _ what: @autoclosure () -> String) {
        if let group, let other = GroupIsolation.group(ofKey: key), other != group {
            checker.fail("group isolation: \(node) \(what()), group \(other)'s key, in group \(group)")
        }
    }

    /// The value of `key` now: the store's in a world that runs it, checked against the plain register's.
    func value(of key: String) -> Int? {
        guard let store else { return registers[key] }
        let stored = StoreRegisters.value(of: key, in: store)
        if stored != registers[key] {
            checker.fail(
                "\(node) read \(key) from the store as \(String(describing: stored)), "
                    + "where the register holds \(String(describing: registers[key]))")
        }
        return stored
    }

    /// A read of `key` served now, after `appliedIndex`: its value, or why this group does not serve it.
    func read(_ key: String, appliedIndex: LogIndex) -> RegisterOutput {
        if let shards {
            if let refusal = shards.refusal(forKey: key) { return .refused(refusal) }
            if let violation = shards.misplaced(key, servedAfter: appliedIndex) {
                checker.fail("\(node) served a read of \(key) after \(appliedIndex): \(violation)")
            }
        }
        return .result(.value(value(of: key)))
    }

    func snapshotImage() -> RegisterImage {
        RegisterImage(registers: registers, ownership: shards?.ownership, store: store)
    }

    static func serialize(_ image: RegisterImage) -> [UInt8] {
        if let store = image.store { return store.snapshot() }
        var writer = ByteWriter()
        for key in image.registers.keys.sorted() {
            RegisterCommand(key: key, operation: .put(image.registers[key]!)).encode(into: &writer)
        }
        if let ownership = image.ownership { ShardedRegisters.write(ownership, into: &writer) }
        return writer.bytes
    }

    mutating func restore(from snapshot: [UInt8]) {
        restoreFaithfully(from: snapshot)
        if restoreLosesAKey, let key = registers.keys.min() {
            registers.removeValue(forKey: key)
            _ = store?.apply(StoreProposal(.deleteRange(DeleteRangeRequest(key: Array(key.utf8)))))
        }
    }

    private mutating func restoreFaithfully(from snapshot: [UInt8]) {
        registers.removeAll()
        if store != nil {
            guard let restored = try? KeyValueStore(restoringFrom: snapshot),
                let registers = StoreRegisters.registers(in: restored)
            else {
                checker.fail("\(node) restored a store snapshot that does not decode")
                return
            }
            for key in registers.keys { checkIsolation(of: key, "restored a snapshot with \(key)") }
            store = restored
            self.registers = registers
            sessions.removeAll()
            for (session, result) in restored.sessionResults {
                guard let result = StoreRegisters.writeResult(of: result) else {
                    checker.fail("\(node) restored session \(session) answered \(result), no register's answer")
                    continue
                }
                sessions[session.client] = (session.sequence, result)
            }
            return
        }
        var reader = ByteReader(snapshot)
        while reader.remaining > 0 {
            var attempt = reader
            guard let command = RegisterCommand(reading: &attempt), case .put(let value) = command.operation else {
                // What follows the registers is the group's key ownership, in a sharded world.
                guard shards != nil, let ownership = ShardedRegisters.readOwnership(from: &reader) else {
                    checker.fail("\(node) restored an undecodable snapshot")
                    return
                }
                shards!.ownership = ownership
                break
            }
            reader = attempt
            checkIsolation(of: command.key, "restored a snapshot with \(command.key)")
            registers[command.key] = value
        }
    }
}

/// What a register machine answers for one entry.
enum RegisterOutput: Hashable {
    case result(KVResult)
    /// A key this group does not serve: moved to another group, or still being imported.
    case refused(KeyOwnership.Refusal)
    /// A move step applied; `alreadyImported` when an import had finished before (a resumed move skips the copy).
    case stepDone(alreadyImported: Bool)
    /// The released keys and their values, for the target to adopt.
    case exported([String: Int])
    case stepFailed(String)
}

/// A snapshot's content: the registers and, in a sharded world, the group's key ownership; in a world that runs the
/// store, the store, whose own snapshot is the image's bytes.
struct RegisterImage: Sendable {
    var registers: [String: Int]
    var ownership: KeyOwnership?
    var store: KeyValueStore?
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
        func value(_ field: String) throws(DecodingFailure) -> Int {
            Int(bitPattern: UInt(try reader.read(UInt64.self, field)))
        }
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
