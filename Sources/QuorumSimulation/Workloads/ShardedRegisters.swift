import QuorumCodec
import QuorumConsensus
import QuorumSharding

/// A register machine's part in a sharded world: its group's `KeyOwnership`, the move steps that change it (as
/// `KeyValueStore+Moves` carries them out in the server), and the ownership checker every applied command is
/// checked against. Keys that name their group (`GroupIsolation.key`) are the group's own, never sharded.
struct ShardedRegisters {
    let group: GroupID
    var ownership = KeyOwnership()
    let ownershipChecker: ShardOwnershipChecker
    /// The planted bug `sourceServesReleasedKeys`.
    let servesReleasedKeys: Bool
    /// The planted bug `copyBeforeRelease`: keys are exported while still served here.
    let exportsServedKeys: Bool

    /// A group founded with the world: every group knows the range-sharded keyspace, owned by its first owner.
    init(group: GroupID, ownershipChecker: ShardOwnershipChecker, injectedBug: InjectedBug?) {
        self.group = group
        self.ownershipChecker = ownershipChecker
        servesReleasedKeys = injectedBug == .sourceServesReleasedKeys
        exportsServedKeys = injectedBug == .copyBeforeRelease
        // The founding map's keyspaces do not overlap, which is all `declare` checks.
        for keyspace in ownershipChecker.founding.keyspaces {
            try! ownership.declare(prefix: keyspace.prefix, ownedHere: keyspace.owners.pieces.first?.value == group)
        }
    }

    static func isSharded(_ key: String) -> Bool { GroupIsolation.group(ofKey: key) == nil }

    func refusal(forKey key: String) -> KeyOwnership.Refusal? {
        guard Self.isSharded(key), let refusal = ownership.refusal(forKey: Array(key.utf8)) else { return nil }
        if servesReleasedKeys, case .moved = refusal { return nil }
        return refusal
    }

    /// Why serving `key` here after `index` breaks the moves' order, if it does.
    func misplaced(_ key: String, servedAfter index: LogIndex) -> String? {
        guard Self.isSharded(key) else { return nil }
        return ownershipChecker.violation(servingKey: key, in: group, after: index)
    }

    mutating func apply(_ step: ShardStep, at index: LogIndex, to registers: inout [String: Int]) -> RegisterOutput {
        ownershipChecker.recordApplied(step, in: group, at: index)
        let keys = step.keys
        do throws(ShardMapError) {
            switch step.kind {
            case .importKeys(let source):
                let holdsReleasedKeys = registers.keys.contains { isReleased($0, in: keys) }
                var importing = ownership
                guard try importing.beginImport(keys, from: source, holdsReleasedKeys: holdsReleasedKeys) else {
                    return .stepDone(alreadyImported: true)
                }
                // Keys coming back to a group that once released them: what it kept of them is stale.
                dropReleased(keys, from: &registers)
                ownership = importing
            case .releaseKeys(let target):
                try ownership.release(keys, to: target)
            case .exportKeys where exportsServedKeys:
                return .exported(registers.filter { Self.isSharded($0.key) && keys.contains(Array($0.key.utf8)) })
            case .exportKeys:
                guard ownership.allReleased(keys) else { throw .invalid("\(keys) were not all released here") }
                return .exported(registers.filter { isReleased($0.key, in: keys) })
            case .adoptKeys(let values):
                for key in values.keys where !ownership.isImporting(Array(key.utf8)) {
                    throw .invalid("\(key) is not among the keys this group is importing")
                }
                registers.merge(values) { _, adopted in adopted }
            case .finishImport:
                try ownership.finishImport(keys)
            case .dropKeys:
                guard ownership.allReleased(keys) else { throw .invalid("\(keys) were not all released here") }
                dropReleased(keys, from: &registers)
            }
        } catch {
            return .stepFailed(error.description)
        }
        return .stepDone(alreadyImported: false)
    }

    private func dropReleased(_ keys: KeySelector, from registers: inout [String: Int]) {
        registers = registers.filter { !isReleased($0.key, in: keys) }
    }

    /// Whether `key` is a sharded key among `keys` that this group released: what a move exports and drops.
    private func isReleased(_ key: String, in keys: KeySelector) -> Bool {
        Self.isSharded(key) && ownership.isReleased(Array(key.utf8), in: keys)
    }

    // MARK: Snapshots

    /// Marks the ownership after a snapshot's registers: not a register command's tag.
    private static let ownershipTag: UInt8 = 0x11

    static func write(_ ownership: KeyOwnership, into writer: inout ByteWriter) {
        writer.write(ownershipTag)
        writer.write(UInt64(ownership.allSlots.count))
        for (slot, state) in ownership.allSlots {
            writer.write(UInt64(slot))
            write(state, into: &writer)
        }
        writer.write(UInt64(ownership.allKeyspaces.count))
        for (prefix, spans) in ownership.allKeyspaces {
            ShardMap.write(KeySpan(prefix: prefix), to: &writer)
            writer.write(UInt64(spans.pieces.count))
            for piece in spans.pieces {
                ShardMap.write(piece.span, to: &writer)
                write(piece.value, into: &writer)
            }
        }
    }

    static func readOwnership(from reader: inout ByteReader) -> KeyOwnership? {
        try? readOwnershipOrThrow(from: &reader)
    }

    private static func readOwnershipOrThrow(from reader: inout ByteReader) throws -> KeyOwnership {
        guard try reader.readByte("ownership") == ownershipTag else {
            throw DecodingFailure.invalid(field: "tag", value: 0)
        }
        var ownership = KeyOwnership()
        for _ in 0..<(try reader.read(UInt64.self, "slots")) {
            let slot = Int(try reader.read(UInt64.self, "slot"))
            guard let hashSlot = HashSlot(slot) else {
                throw DecodingFailure.invalid(field: "slot", value: UInt64(slot))
            }
            ownership.restore(hashSlot, try readState(from: &reader))
        }
        for _ in 0..<(try reader.read(UInt64.self, "keyspaces")) {
            let prefix = try ShardMap.readSpan(&reader).start
            var spans: [(KeySpan, KeyOwnership.State)] = []
            for _ in 0..<(try reader.read(UInt64.self, "spans")) {
                spans.append((try ShardMap.readSpan(&reader), try readState(from: &reader)))
            }
            try ownership.restore(prefix: prefix, spans: spans)
        }
        guard reader.remaining == 0 else { throw DecodingFailure.invalid(field: "trailing bytes", value: 0) }
        return ownership
    }

    private static func write(_ state: KeyOwnership.State, into writer: inout ByteWriter) {
        switch state {
        case .importing(let source):
            writer.write(UInt8(0))
            writer.write(source.rawValue)
        case .owned:
            writer.write(UInt8(1))
            writer.write(UInt64(0))
        case .released(let target):
            writer.write(UInt8(2))
            writer.write(target.rawValue)
        }
    }

    private static func readState(from reader: inout ByteReader) throws -> KeyOwnership.State {
        let kind = try reader.readByte("state")
        let group = GroupID(try reader.read(UInt64.self, "group"))
        switch kind {
        case 0: return .importing(from: group)
        case 1: return .owned
        case 2: return .released(to: group)
        default: throw DecodingFailure.invalid(field: "state", value: UInt64(kind))
        }
    }
}
