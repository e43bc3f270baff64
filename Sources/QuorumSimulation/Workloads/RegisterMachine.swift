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
    /// With the store: the leases granted and not revoked, each with the registers attached to it (the model of the
    /// store's leases). Whether a lease's deadline has passed is the store's to say: the model keeps no clock, and
    /// an expired lease lives on until the leader's revocation is applied.
    private var leases: [LeaseID: Set<String>] = [:]
    /// With the store: where the revocations this replica applies are reported, for the world to record each in
    /// the history once.
    private let revocations: AppliedRevocations?
    /// `InjectedBug.restoreLosesAKey`.
    private let restoreLosesAKey: Bool

    init(
        node: NodeID, checker: SafetyChecker, group: Int? = nil, shards: ShardedRegisters? = nil,
        runsStore: Bool = false, revocations: AppliedRevocations? = nil, injectedBug: InjectedBug? = nil
    ) {
        precondition(!runsStore || shards == nil, "a sharded world runs plain registers")
        self.node = node
        self.checker = checker
        self.group = group
        self.shards = shards
        self.store = runsStore ? KeyValueStore() : nil
        self.revocations = revocations
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
        guard let proposal = try? StoreProposal(decoding: bytes) else {
            checker.fail("\(node) applied an undecodable store proposal at \(index)")
            return nil
        }
        switch proposal.command {
        case .leaseGrant(let lease, _, _), .leaseKeepAlive(let lease, _):
            return applyRenewal(proposal, of: lease, at: index)
        case .leaseRevoke(let lease):
            applyRevocation(proposal, of: lease, at: index)
            return nil
        default:
            break
        }
        guard let command = StoreRegisters.command(of: proposal) else {
            checker.fail("\(node) applied a store proposal at \(index) that is no register's")
            return nil
        }
        checkIsolation(of: command.key, "applied \(command) at \(index)")
        let answer = store!.apply(proposal).result
        var lease: LeaseID?
        if case .put(let put) = proposal.command, let attached = put.lease {
            guard proposal.session == nil else {
                checker.fail("\(node) at \(index): a put with a lease in a session, which the model does not cover")
                return nil
            }
            guard leases[attached] != nil else {
                guard case .failed(.leaseNotFound(attached)) = answer else {
                    checker.fail(
                        "\(node) at \(index): the store answered \(answer) to \(command) with \(attached), gone")
                    return nil
                }
                return .leaseMissing
            }
            lease = attached
        }
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
            if expected != .swapped(false) && command.operation != .get { attach(command.key, to: lease) }
            if let session = proposal.session { sessions[session.client] = (session.sequence, expected) }
        }
        guard let result = StoreRegisters.result(of: answer, for: command), result == expected else {
            checker.fail(
                "\(node) at \(index): the store answered \(answer) to \(command), where a register answers \(expected)")
            return nil
        }
        return .result(result)
    }

    /// A key written takes the lease its write carried, if any, and leaves the one it had (as etcd's put does).
    private mutating func attach(_ key: String, to lease: LeaseID?) {
        for id in leases.keys { leases[id]!.remove(key) }
        if let lease { leases[lease]!.insert(key) }
    }

    private mutating func applyRenewal(_ proposal: StoreProposal, of lease: LeaseID, at index: LogIndex)
        -> RegisterOutput?
    {
        let answer = store!.apply(proposal).result
        switch (proposal.command, answer) {
        case (.leaseGrant, .leaseGranted) where leases[lease] == nil:
            leases[lease] = []
            return .leaseAnswer(alive: true)
        case (.leaseGrant, .failed(.leaseAlreadyExists)) where leases[lease] != nil:
            return .leaseAnswer(alive: false)
        case (.leaseKeepAlive, .leaseKeptAlive) where leases[lease] != nil:
            return .leaseAnswer(alive: true)
        case (.leaseKeepAlive, .failed(.leaseNotFound)):
            return .leaseAnswer(alive: false)
        default:
            let known = leases[lease] == nil ? "not granted" : "granted"
            checker.fail(
                "\(node) at \(index): the store answered \(answer) to \(proposal.command), \(lease) being \(known)")
            return nil
        }
    }

    /// A revocation deletes every register attached to the lease, in the store and in the model alike.
    private mutating func applyRevocation(_ proposal: StoreProposal, of lease: LeaseID, at index: LogIndex) {
        let answer = store!.apply(proposal).result
        guard let keys = leases.removeValue(forKey: lease) else {
            if case .failed(.leaseNotFound) = answer { return }
            checker.fail("\(node) at \(index): the store answered \(answer) to revoking \(lease), not granted")
            return
        }
        guard case .leaseRevoked = answer else {
            checker.fail("\(node) at \(index): the store answered \(answer) to revoking \(lease)")
            return
        }
        for key in keys {
            registers[key] = nil
            _ = value(of: key)  // which checks that the store's key is gone too
        }
        revocations?.record(lease, deleted: keys.sorted(), at: index, now: checker.now)
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
            leases = StoreRegisters.leases(in: restored)
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
    /// With the store: a lease granted or kept alive (`alive`), or refused.
    case leaseAnswer(alive: Bool)
    /// With the store: a put refused because its lease is gone. It took no effect.
    case leaseMissing
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
        case 4: return RegisterCommand(key: key, operation: .delete)
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
        case .delete: write(4)
        }
    }

    var encoded: [UInt8] {
        var writer = ByteWriter()
        encode(into: &writer)
        return writer.bytes
    }
}
