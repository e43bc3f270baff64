import QuorumCodec
import QuorumConsensus
import QuorumSharding
/// Binary encoding of commands and proposals: little-endian, first byte the format version.
///
///     proposal := version:u8 hasSession:u8 [client:u64 sequence:u64] command
///     command  := tag:u8 body   (tags below; byte strings are u32 length + bytes; lease 0 = none)
enum StoreCodec {
    static let formatVersion: UInt8 = 1

    enum CommandTag: UInt8 {
        case put = 1, range, deleteRange, transaction, compact, leaseGrant, leaseKeepAlive, leaseRevoke, closeSession
        case importKeys, releaseKeys, exportKeys, adoptKeys, finishImport, dropKeys, declareKeyspace
    }

    enum CompareTargetTag: UInt8 { case value = 1, version, createRevision, modRevision, lease }

    static func checkVersion(_ reader: inout StoreReader) throws(StoreError) {
        let version = try reader.readByte()
        if version != formatVersion { throw .unsupportedFormatVersion(version) }
    }

    /// A reader past the version byte of a command or proposal, refusing one over the size limit before reading.
    static func commandReader(_ bytes: [UInt8], limits: StoreLimits) throws(StoreError) -> StoreReader {
        if bytes.count > limits.commandBytesMax {
            throw .commandTooLarge(bytes: bytes.count, limit: limits.commandBytesMax)
        }
        var reader = StoreReader(bytes)
        try checkVersion(&reader)
        return reader
    }
}

extension StoreCommand {
    /// The command alone, with a format-version byte.
    public var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.write(StoreCodec.formatVersion)
        encode(into: &writer)
        return writer.bytes
    }

    /// Decodes a command, checking every size against `limits` before allocating. Never traps.
    public init(decoding bytes: [UInt8], limits: StoreLimits = .default) throws(StoreError) {
        var reader = try StoreCodec.commandReader(bytes, limits: limits)
        var decoder = CommandDecoder(limits: limits)
        self = try decoder.command(&reader)
        try reader.expectEnd()
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        // The commands a transaction may also hold are encoded the same way in both places.
        case .put(let put): TransactionOperation.put(put).encode(into: &writer)
        case .range(let range): TransactionOperation.range(range).encode(into: &writer)
        case .deleteRange(let delete): TransactionOperation.deleteRange(delete).encode(into: &writer)
        case .transaction(let transaction): TransactionOperation.transaction(transaction).encode(into: &writer)
        case .compact(let revision):
            writer.write(StoreCodec.CommandTag.compact.rawValue)
            writer.write(revision)
        case .leaseGrant(let id, let ttl, let grantedAt):
            writer.write(StoreCodec.CommandTag.leaseGrant.rawValue)
            writer.write(id.rawValue)
            writer.write(ttl.milliseconds)
            writer.write(grantedAt.milliseconds)
        case .leaseKeepAlive(let id, let at):
            writer.write(StoreCodec.CommandTag.leaseKeepAlive.rawValue)
            writer.write(id.rawValue)
            writer.write(at.milliseconds)
        case .leaseRevoke(let id):
            writer.write(StoreCodec.CommandTag.leaseRevoke.rawValue)
            writer.write(id.rawValue)
        case .closeSession(let client):
            writer.write(StoreCodec.CommandTag.closeSession.rawValue)
            writer.write(client.rawValue)
        case .importKeys(let keys, let source):
            writer.write(StoreCodec.CommandTag.importKeys.rawValue)
            writer.write(keys)
            writer.write(source.rawValue)
        case .releaseKeys(let keys, let target):
            writer.write(StoreCodec.CommandTag.releaseKeys.rawValue)
            writer.write(keys)
            writer.write(target.rawValue)
        case .exportKeys(let keys, let after, let limit):
            writer.write(StoreCodec.CommandTag.exportKeys.rawValue)
            writer.write(keys)
            writer.writeBytes(after)
            writer.write(UInt64(max(limit, 0)))
        case .adoptKeys(let keys):
            writer.write(StoreCodec.CommandTag.adoptKeys.rawValue)
            writer.write(keys)
        case .finishImport(let keys):
            writer.write(StoreCodec.CommandTag.finishImport.rawValue)
            writer.write(keys)
        case .dropKeys(let keys):
            writer.write(StoreCodec.CommandTag.dropKeys.rawValue)
            writer.write(keys)
        case .declareKeyspace(let prefix, let ownedHere):
            writer.write(StoreCodec.CommandTag.declareKeyspace.rawValue)
            writer.writeBytes(prefix)
            writer.write(ownedHere)
        }
    }
}

extension StoreProposal {
    public var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.write(StoreCodec.formatVersion)
        writer.write(session != nil)
        if let session {
            writer.write(session.client.rawValue)
            writer.write(session.sequence.rawValue)
        }
        command.encode(into: &writer)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8], limits: StoreLimits = .default) throws(StoreError) {
        var reader = try StoreCodec.commandReader(bytes, limits: limits)
        var session: ClientSession? = nil
        if try reader.readBool() {
            session = ClientSession(
                client: ClientID(try reader.readUInt64()), sequence: SequenceNumber(try reader.readUInt64()))
        }
        var decoder = CommandDecoder(limits: limits)
        self.init(try decoder.command(&reader), session: session)
        try reader.expectEnd()
    }
}

extension PutRequest {
    func encode(into writer: inout ByteWriter) {
        writer.writeBytes(key)
        writer.writeBytes(value)
        writer.write(lease)
        writer.write(
            (prevKV ? 1 : 0) | (ignoreValue ? 2 : 0) | (ignoreLease ? 4 : 0) | (sequential ? 8 : 0)
                | (splices.isEmpty ? 0 : 16) as UInt8)
        guard !splices.isEmpty else { return }
        writer.writeCount(splices.count)
        for splice in splices {
            writer.writeCount(splice.offset)
            writer.writeCount(splice.removing)
            writer.writeBytes(splice.inserting)
        }
    }
}

extension RangeRequest {
    func encode(into writer: inout ByteWriter) {
        writer.writeBytes(key)
        writer.write(rangeEnd != nil)
        if let rangeEnd { writer.writeBytes(rangeEnd) }
        writer.write(UInt64(max(limit, 0)))
        writer.write(revision ?? .zero)
        writer.write((keysOnly ? 1 : 0) | (countOnly ? 2 : 0) as UInt8)
    }
}

extension DeleteRangeRequest {
    func encode(into writer: inout ByteWriter) {
        writer.writeBytes(key)
        writer.write(rangeEnd != nil)
        if let rangeEnd { writer.writeBytes(rangeEnd) }
        writer.write(prevKV)
    }
}

extension TransactionRequest {
    func encode(into writer: inout ByteWriter) {
        writer.writeCount(compare.count)
        for comparison in compare { comparison.encode(into: &writer) }
        for branch in [success, failure] {
            writer.writeCount(branch.count)
            for operation in branch { operation.encode(into: &writer) }
        }
    }
}

extension TransactionOperation {
    /// Tag, then body: the same bytes as the top-level command of the same kind.
    func encode(into writer: inout ByteWriter) {
        switch self {
        case .put(let put):
            writer.write(StoreCodec.CommandTag.put.rawValue)
            put.encode(into: &writer)
        case .range(let range):
            writer.write(StoreCodec.CommandTag.range.rawValue)
            range.encode(into: &writer)
        case .deleteRange(let delete):
            writer.write(StoreCodec.CommandTag.deleteRange.rawValue)
            delete.encode(into: &writer)
        case .transaction(let nested):
            writer.write(StoreCodec.CommandTag.transaction.rawValue)
            nested.encode(into: &writer)
        }
    }
}

extension Comparison {
    func encode(into writer: inout ByteWriter) {
        writer.writeBytes(key)
        switch target {
        case .value(let value):
            writer.write(StoreCodec.CompareTargetTag.value.rawValue)
            writer.writeBytes(value)
        case .version(let version):
            writer.write(StoreCodec.CompareTargetTag.version.rawValue)
            writer.write(version)
        case .createRevision(let revision):
            writer.write(StoreCodec.CompareTargetTag.createRevision.rawValue)
            writer.write(revision)
        case .modRevision(let revision):
            writer.write(StoreCodec.CompareTargetTag.modRevision.rawValue)
            writer.write(revision)
        case .lease(let lease):
            writer.write(StoreCodec.CompareTargetTag.lease.rawValue)
            writer.write(lease)
        }
        writer.write(`operator`.rawValue)
    }
}

/// Decodes command bodies, tracking the transaction budget (operations and depth) as it goes so a forged
/// transaction is refused before it is built.
struct CommandDecoder {
    let limits: StoreLimits
    private var operationsLeft: Int

    init(limits: StoreLimits) {
        self.limits = limits
        self.operationsLeft = limits.transactionOperationsMax
    }

    mutating func command(_ reader: inout StoreReader) throws(StoreError) -> StoreCommand {
        let tag = try reader.readByte()
        switch StoreCodec.CommandTag(rawValue: tag) {
        case .put: return .put(try put(&reader))
        case .range: return .range(try range(&reader))
        case .deleteRange: return .deleteRange(try deleteRange(&reader))
        case .transaction: return .transaction(try transaction(&reader, depth: 1))
        case .compact: return .compact(try reader.readRevision())
        case .leaseGrant:
            return .leaseGrant(
                id: LeaseID(try reader.readUInt64()), ttl: LeaseTTL(milliseconds: try reader.readUInt64()),
                grantedAt: StoreTime(milliseconds: try reader.readUInt64()))
        case .leaseKeepAlive:
            return .leaseKeepAlive(
                id: LeaseID(try reader.readUInt64()), at: StoreTime(milliseconds: try reader.readUInt64()))
        case .leaseRevoke: return .leaseRevoke(LeaseID(try reader.readUInt64()))
        case .closeSession: return .closeSession(ClientID(try reader.readUInt64()))
        case .importKeys: return .importKeys(try reader.readKeySelector(limits), from: try reader.readGroup())
        case .releaseKeys: return .releaseKeys(try reader.readKeySelector(limits), to: try reader.readGroup())
        case .exportKeys:
            return .exportKeys(
                try reader.readKeySelector(limits), after: try key(&reader, "export start"), limit: try reader.readInt())
        case .adoptKeys: return .adoptKeys(try MovedKey.decodeAll(&reader, limits: limits))
        case .finishImport: return .finishImport(try reader.readKeySelector(limits))
        case .dropKeys: return .dropKeys(try reader.readKeySelector(limits))
        case .declareKeyspace:
            let prefix = try key(&reader, "keyspace prefix")
            if prefix.isEmpty { throw .malformed("a keyspace prefix is empty") }
            return .declareKeyspace(prefix: prefix, ownedHere: try reader.readBool())
        case nil: throw .malformed("unknown command tag \(tag)")
        }
    }

    private func key(_ reader: inout StoreReader, _ what: String = "key") throws(StoreError) -> [UInt8] {
        try reader.readBytes(limit: limits.keyBytesMax, what: what)
    }

    private func flags(_ reader: inout StoreReader, allowed: UInt8) throws(StoreError) -> UInt8 {
        let flags = try reader.readByte()
        if flags & ~allowed != 0 { throw .malformed("unknown flag bits \(flags & ~allowed)") }
        return flags
    }

    private func rangeEnd(_ reader: inout StoreReader) throws(StoreError) -> [UInt8]? {
        try reader.readBool() ? try key(&reader, "range end") : nil
    }

    func put(_ reader: inout StoreReader) throws(StoreError) -> PutRequest {
        let key = try key(&reader)
        let value = try reader.readBytes(limit: limits.valueBytesMax, what: "value")
        let lease = try reader.readLease()
        let flags = try flags(&reader, allowed: 31)
        var splices: [ValueSplice] = []
        if flags & 16 != 0 {
            let count = try reader.readCount(minimumBytes: 12, what: "splice")
            guard count > 0 else { throw .malformed("a splice flag with no splices") }
            for _ in 0..<count {
                let offset = Int(try reader.readUInt32())
                let removing = Int(try reader.readUInt32())
                splices.append(
                    ValueSplice(
                        offset: offset, removing: removing,
                        inserting: try reader.readBytes(limit: limits.valueBytesMax, what: "spliced bytes")))
            }
        }
        return PutRequest(
            key: key, value: value, lease: lease, prevKV: flags & 1 != 0, ignoreValue: flags & 2 != 0,
            ignoreLease: flags & 4 != 0, sequential: flags & 8 != 0, splices: splices)
    }

    func range(_ reader: inout StoreReader) throws(StoreError) -> RangeRequest {
        let key = try key(&reader)
        let end = try rangeEnd(&reader)
        let limit = try reader.readInt()
        let revision = try reader.readRevision()
        let flags = try flags(&reader, allowed: 3)
        return RangeRequest(
            key: key, rangeEnd: end, limit: limit, revision: revision == .zero ? nil : revision,
            keysOnly: flags & 1 != 0, countOnly: flags & 2 != 0)
    }

    func deleteRange(_ reader: inout StoreReader) throws(StoreError) -> DeleteRangeRequest {
        let key = try key(&reader)
        let end = try rangeEnd(&reader)
        return DeleteRangeRequest(key: key, rangeEnd: end, prevKV: try reader.readBool())
    }

    private func comparison(_ reader: inout StoreReader) throws(StoreError) -> Comparison {
        let key = try key(&reader)
        let tag = try reader.readByte()
        let target: Comparison.Target
        switch StoreCodec.CompareTargetTag(rawValue: tag) {
        case .value: target = .value(try reader.readBytes(limit: limits.valueBytesMax, what: "compared value"))
        case .version: target = .version(try reader.readUInt64())
        case .createRevision: target = .createRevision(try reader.readRevision())
        case .modRevision: target = .modRevision(try reader.readRevision())
        case .lease: target = .lease(try reader.readLease())
        case nil: throw .malformed("unknown comparison target \(tag)")
        }
        let operatorByte = try reader.readByte()
        guard let comparisonOperator = Comparison.Operator(rawValue: operatorByte) else {
            throw .malformed("unknown comparison operator \(operatorByte)")
        }
        return Comparison(key: key, target, comparisonOperator)
    }

    mutating func transaction(_ reader: inout StoreReader, depth: Int) throws(StoreError) -> TransactionRequest {
        if depth > limits.transactionDepthMax { throw .transactionTooDeep(limit: limits.transactionDepthMax) }
        // A comparison takes at least 4 (key length) + 1 + 8 + 1 bytes; an operation at least 6.
        let compareCount = try reader.readCount(minimumBytes: 10, what: "comparisons")
        if compareCount > limits.transactionOperationsMax {
            throw .tooManyTransactionOperations(count: compareCount, limit: limits.transactionOperationsMax)
        }
        var compare: [Comparison] = []
        compare.reserveCapacity(compareCount)
        for _ in 0..<compareCount { compare.append(try comparison(&reader)) }
        var branches: [[TransactionOperation]] = []
        for _ in 0..<2 {
            let count = try reader.readCount(minimumBytes: 6, what: "transaction operations")
            if count > operationsLeft {
                throw .tooManyTransactionOperations(
                    count: limits.transactionOperationsMax - operationsLeft + count,
                    limit: limits.transactionOperationsMax)
            }
            operationsLeft -= count
            var operations: [TransactionOperation] = []
            operations.reserveCapacity(count)
            for _ in 0..<count {
                let tag = try reader.readByte()
                switch StoreCodec.CommandTag(rawValue: tag) {
                case .put: operations.append(.put(try put(&reader)))
                case .range: operations.append(.range(try range(&reader)))
                case .deleteRange: operations.append(.deleteRange(try deleteRange(&reader)))
                case .transaction: operations.append(.transaction(try transaction(&reader, depth: depth + 1)))
                default: throw .malformed("operation tag \(tag) is not allowed in a transaction")
                }
            }
            branches.append(operations)
        }
        return TransactionRequest(compare: compare, success: branches[0], failure: branches[1])
    }
}

extension MovedKey {
    /// Decodes what `ByteWriter.write(_: [MovedKey])` wrote.
    static func decodeAll(_ reader: inout StoreReader, limits: StoreLimits) throws(StoreError) -> [MovedKey] {
        // A key, a value and a lease id at the least.
        let count = try reader.readCount(minimumBytes: 16, what: "moved keys")
        var keys: [MovedKey] = []
        keys.reserveCapacity(count)
        for _ in 0..<count {
            let key = try reader.readBytes(limit: limits.keyBytesMax, what: "key")
            let value = try reader.readBytes(limit: limits.valueBytesMax, what: "value")
            let lease = try reader.readLease().map { id throws(StoreError) in
                MovedLease(
                    id: id, ttl: LeaseTTL(milliseconds: try reader.readUInt64()),
                    deadline: StoreTime(milliseconds: try reader.readUInt64()))
            }
            keys.append(MovedKey(key: key, value: value, lease: lease))
        }
        return keys
    }
}
