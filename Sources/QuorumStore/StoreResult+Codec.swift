import QuorumCodec
import QuorumConsensus
/// Binary encoding of results, which the server returns to clients: version byte, tag, body.
/// Decoding bounds every count by the bytes left, so a result decodes in memory proportional to its size.
extension StoreResult {
    private enum Tag: UInt8 {
        case put = 1, range, deleteRange, transaction, compacted, leaseGranted, leaseKeptAlive, leaseRevoked
        case sessionClosed, failed, keysMoved, keysExported, keysAlreadyImported
    }

    public var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.write(StoreCodec.formatVersion)
        encode(into: &writer)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8], limits: StoreLimits = .default) throws(StoreError) {
        var reader = StoreReader(bytes)
        try StoreCodec.checkVersion(&reader)
        let decoder = ResultDecoder(limits: limits)
        self = try decoder.result(&reader)
        try reader.expectEnd()
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .put(let put):
            writer.write(Tag.put.rawValue)
            put.encode(into: &writer)
        case .range(let range):
            writer.write(Tag.range.rawValue)
            range.encode(into: &writer)
        case .deleteRange(let delete):
            writer.write(Tag.deleteRange.rawValue)
            delete.encode(into: &writer)
        case .transaction(let transaction):
            writer.write(Tag.transaction.rawValue)
            transaction.encode(into: &writer)
        case .compacted(let revision):
            writer.write(Tag.compacted.rawValue)
            writer.write(revision)
        case .leaseGranted(let id, let ttl, let revision):
            writer.write(Tag.leaseGranted.rawValue)
            writer.write(id.rawValue)
            writer.write(ttl.milliseconds)
            writer.write(revision)
        case .leaseKeptAlive(let id, let ttl, let revision):
            writer.write(Tag.leaseKeptAlive.rawValue)
            writer.write(id.rawValue)
            writer.write(ttl.milliseconds)
            writer.write(revision)
        case .leaseRevoked(let revision):
            writer.write(Tag.leaseRevoked.rawValue)
            writer.write(revision)
        case .sessionClosed(let revision):
            writer.write(Tag.sessionClosed.rawValue)
            writer.write(revision)
        case .keysMoved(let revision):
            writer.write(Tag.keysMoved.rawValue)
            writer.write(revision)
        case .keysAlreadyImported(let revision):
            writer.write(Tag.keysAlreadyImported.rawValue)
            writer.write(revision)
        case .keysExported(let keys, let next, let revision):
            writer.write(Tag.keysExported.rawValue)
            writer.write(keys)
            writer.write(next != nil)
            if let next { writer.writeBytes(next) }
            writer.write(revision)
        case .failed(let error):
            writer.write(Tag.failed.rawValue)
            error.encode(into: &writer)
        }
    }

    struct ResultDecoder {
        let limits: StoreLimits

        func result(_ reader: inout StoreReader) throws(StoreError) -> StoreResult {
            let tag = try reader.readByte()
            switch Tag(rawValue: tag) {
            case .put: return .put(try put(&reader))
            case .range: return .range(try range(&reader))
            case .deleteRange: return .deleteRange(try deleteRange(&reader))
            case .transaction: return .transaction(try transaction(&reader, depth: 1))
            case .compacted: return .compacted(revision: try reader.readRevision())
            case .leaseGranted:
                return .leaseGranted(
                    id: LeaseID(try reader.readUInt64()), ttl: LeaseTTL(milliseconds: try reader.readUInt64()),
                    revision: try reader.readRevision())
            case .leaseKeptAlive:
                return .leaseKeptAlive(
                    id: LeaseID(try reader.readUInt64()), ttl: LeaseTTL(milliseconds: try reader.readUInt64()),
                    revision: try reader.readRevision())
            case .leaseRevoked: return .leaseRevoked(revision: try reader.readRevision())
            case .sessionClosed: return .sessionClosed(revision: try reader.readRevision())
            case .failed: return .failed(try StoreError(decoding: &reader, limits: limits))
            case .keysMoved: return .keysMoved(revision: try reader.readRevision())
            case .keysAlreadyImported: return .keysAlreadyImported(revision: try reader.readRevision())
            case .keysExported:
                let keys = try MovedKey.decodeAll(&reader, limits: limits)
                let next = try reader.readBool() ? try reader.readBytes(limit: limits.keyBytesMax, what: "key") : nil
                return .keysExported(keys: keys, next: next, revision: try reader.readRevision())
            case nil: throw .malformed("unknown result tag \(tag)")
            }
        }

        func keyValue(_ reader: inout StoreReader) throws(StoreError) -> KeyValue {
            try KeyValue(decoding: &reader, limits: limits)
        }

        func optionalKeyValue(_ reader: inout StoreReader) throws(StoreError) -> KeyValue? {
            try reader.readBool() ? try keyValue(&reader) : nil
        }

        func keyValues(_ reader: inout StoreReader) throws(StoreError) -> [KeyValue] {
            let count = try reader.readCount(minimumBytes: KeyValue.minimumEncodedBytes, what: "key-values")
            var kvs: [KeyValue] = []
            kvs.reserveCapacity(count)
            for _ in 0..<count { kvs.append(try keyValue(&reader)) }
            return kvs
        }

        func put(_ reader: inout StoreReader) throws(StoreError) -> PutResponse {
            PutResponse(
                revision: try reader.readRevision(), prevKV: try optionalKeyValue(&reader),
                sequentialKey: try reader.readBool() ? try reader.readBytes(limit: limits.keyBytesMax, what: "key") : nil)
        }

        func range(_ reader: inout StoreReader) throws(StoreError) -> RangeResponse {
            let revision = try reader.readRevision()
            let kvs = try keyValues(&reader)
            let more = try reader.readBool()
            return RangeResponse(revision: revision, kvs: kvs, more: more, count: try reader.readInt())
        }

        func deleteRange(_ reader: inout StoreReader) throws(StoreError) -> DeleteRangeResponse {
            let revision = try reader.readRevision()
            let deleted = try reader.readInt()
            return DeleteRangeResponse(revision: revision, deleted: deleted, prevKVs: try keyValues(&reader))
        }

        func transaction(_ reader: inout StoreReader, depth: Int) throws(StoreError) -> TransactionResponse {
            if depth > limits.transactionDepthMax { throw .transactionTooDeep(limit: limits.transactionDepthMax) }
            let revision = try reader.readRevision()
            let succeeded = try reader.readBool()
            let count = try reader.readCount(minimumBytes: 9, what: "transaction responses")
            var responses: [TransactionOperationResponse] = []
            responses.reserveCapacity(count)
            for _ in 0..<count {
                let tag = try reader.readByte()
                switch Tag(rawValue: tag) {
                case .put: responses.append(.put(try put(&reader)))
                case .range: responses.append(.range(try range(&reader)))
                case .deleteRange: responses.append(.deleteRange(try deleteRange(&reader)))
                case .transaction: responses.append(.transaction(try transaction(&reader, depth: depth + 1)))
                default: throw .malformed("response tag \(tag) is not allowed in a transaction")
                }
            }
            return TransactionResponse(revision: revision, succeeded: succeeded, responses: responses)
        }
    }
}

extension PutResponse {
    func encode(into writer: inout ByteWriter) {
        writer.write(revision)
        writer.write(prevKV != nil)
        prevKV?.encode(into: &writer)
        writer.write(sequentialKey != nil)
        if let sequentialKey { writer.writeBytes(sequentialKey) }
    }
}

extension RangeResponse {
    func encode(into writer: inout ByteWriter) {
        writer.write(revision)
        writer.writeCount(kvs.count)
        for kv in kvs { kv.encode(into: &writer) }
        writer.write(more)
        writer.write(UInt64(count))
    }
}

extension DeleteRangeResponse {
    func encode(into writer: inout ByteWriter) {
        writer.write(revision)
        writer.write(UInt64(deleted))
        writer.writeCount(prevKVs.count)
        for kv in prevKVs { kv.encode(into: &writer) }
    }
}

extension TransactionResponse {
    func encode(into writer: inout ByteWriter) {
        writer.write(revision)
        writer.write(succeeded)
        writer.writeCount(responses.count)
        for response in responses {
            switch response {
            case .put(let put):
                writer.write(1 as UInt8)
                put.encode(into: &writer)
            case .range(let range):
                writer.write(2 as UInt8)
                range.encode(into: &writer)
            case .deleteRange(let delete):
                writer.write(3 as UInt8)
                delete.encode(into: &writer)
            case .transaction(let nested):
                writer.write(4 as UInt8)
                nested.encode(into: &writer)
            }
        }
    }
}

extension KeyValue {
    /// Two lengths and four u64 fields.
    static let minimumEncodedBytes = 4 + 4 + 8 * 4

    func encode(into writer: inout ByteWriter) {
        writer.writeBytes(key)
        writer.writeBytes(value)
        writer.write(createRevision)
        writer.write(modRevision)
        writer.write(version)
        writer.write(lease)
    }

    init(decoding reader: inout StoreReader, limits: StoreLimits) throws(StoreError) {
        self.init(
            key: try reader.readBytes(limit: limits.keyBytesMax, what: "key"),
            value: try reader.readBytes(limit: limits.valueBytesMax, what: "value"),
            createRevision: try reader.readRevision(), modRevision: try reader.readRevision(),
            version: try reader.readUInt64(), lease: try reader.readLease())
    }
}

extension StoreError {
    private enum Tag: UInt8 {
        case compacted = 1, futureRevision, emptyKey, keyTooLarge, valueTooLarge, keyNotFound, leaseNotFound
        case leaseAlreadyExists, invalidLeaseID, invalidTTL, leaseWithIgnoreLease, tooManyTransactionOperations
        case transactionTooDeep, staleSequence, commandTooLarge, unsupportedFormatVersion, malformed
        case keyMoved, keyImporting, invalidMove, keyNotServed
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .compacted(let requested, let oldest):
            writer.write(Tag.compacted.rawValue)
            writer.write(requested)
            writer.write(oldest)
        case .futureRevision(let requested, let current):
            writer.write(Tag.futureRevision.rawValue)
            writer.write(requested)
            writer.write(current)
        case .emptyKey: writer.write(Tag.emptyKey.rawValue)
        case .keyTooLarge(let bytes, let limit):
            writer.write(Tag.keyTooLarge.rawValue)
            writer.write(UInt64(bytes))
            writer.write(UInt64(limit))
        case .valueTooLarge(let bytes, let limit):
            writer.write(Tag.valueTooLarge.rawValue)
            writer.write(UInt64(bytes))
            writer.write(UInt64(limit))
        case .keyNotFound(let key):
            writer.write(Tag.keyNotFound.rawValue)
            writer.writeBytes(key)
        case .leaseNotFound(let id):
            writer.write(Tag.leaseNotFound.rawValue)
            writer.write(id.rawValue)
        case .leaseAlreadyExists(let id):
            writer.write(Tag.leaseAlreadyExists.rawValue)
            writer.write(id.rawValue)
        case .invalidLeaseID: writer.write(Tag.invalidLeaseID.rawValue)
        case .invalidTTL: writer.write(Tag.invalidTTL.rawValue)
        case .leaseWithIgnoreLease: writer.write(Tag.leaseWithIgnoreLease.rawValue)
        case .tooManyTransactionOperations(let count, let limit):
            writer.write(Tag.tooManyTransactionOperations.rawValue)
            writer.write(UInt64(count))
            writer.write(UInt64(limit))
        case .transactionTooDeep(let limit):
            writer.write(Tag.transactionTooDeep.rawValue)
            writer.write(UInt64(limit))
        case .staleSequence(let client, let sequence, let latest):
            writer.write(Tag.staleSequence.rawValue)
            writer.write(client.rawValue)
            writer.write(sequence.rawValue)
            writer.write(latest.rawValue)
        case .commandTooLarge(let bytes, let limit):
            writer.write(Tag.commandTooLarge.rawValue)
            writer.write(UInt64(bytes))
            writer.write(UInt64(limit))
        case .unsupportedFormatVersion(let version):
            writer.write(Tag.unsupportedFormatVersion.rawValue)
            writer.write(version)
        case .malformed(let reason):
            writer.write(Tag.malformed.rawValue)
            writer.writeBytes(Array(reason.utf8))
        case .keyMoved(let key, let group):
            writer.write(Tag.keyMoved.rawValue)
            writer.writeBytes(key)
            writer.write(group.rawValue)
        case .keyImporting(let key):
            writer.write(Tag.keyImporting.rawValue)
            writer.writeBytes(key)
        case .keyNotServed(let key):
            writer.write(Tag.keyNotServed.rawValue)
            writer.writeBytes(key)
        case .invalidMove(let reason):
            writer.write(Tag.invalidMove.rawValue)
            writer.writeBytes(Array(reason.utf8))
        }
    }

    init(decoding reader: inout StoreReader, limits: StoreLimits) throws(StoreError) {
        let tag = try reader.readByte()
        switch Tag(rawValue: tag) {
        case .compacted:
            self = .compacted(requested: try reader.readRevision(), oldestAvailable: try reader.readRevision())
        case .futureRevision:
            self = .futureRevision(requested: try reader.readRevision(), current: try reader.readRevision())
        case .emptyKey: self = .emptyKey
        case .keyTooLarge: self = .keyTooLarge(bytes: try reader.readInt(), limit: try reader.readInt())
        case .valueTooLarge: self = .valueTooLarge(bytes: try reader.readInt(), limit: try reader.readInt())
        case .keyNotFound: self = .keyNotFound(key: try reader.readBytes(limit: limits.keyBytesMax, what: "key"))
        case .leaseNotFound: self = .leaseNotFound(LeaseID(try reader.readUInt64()))
        case .leaseAlreadyExists: self = .leaseAlreadyExists(LeaseID(try reader.readUInt64()))
        case .invalidLeaseID: self = .invalidLeaseID
        case .invalidTTL: self = .invalidTTL
        case .leaseWithIgnoreLease: self = .leaseWithIgnoreLease
        case .tooManyTransactionOperations:
            self = .tooManyTransactionOperations(count: try reader.readInt(), limit: try reader.readInt())
        case .transactionTooDeep: self = .transactionTooDeep(limit: try reader.readInt())
        case .staleSequence:
            self = .staleSequence(
                client: ClientID(try reader.readUInt64()), sequence: SequenceNumber(try reader.readUInt64()),
                latest: SequenceNumber(try reader.readUInt64()))
        case .commandTooLarge: self = .commandTooLarge(bytes: try reader.readInt(), limit: try reader.readInt())
        case .unsupportedFormatVersion: self = .unsupportedFormatVersion(try reader.readByte())
        case .malformed:
            self = .malformed(String(decoding: try reader.readBytes(limit: 4096, what: "reason"), as: UTF8.self))
        case .keyMoved:
            self = .keyMoved(key: try reader.readBytes(limit: limits.keyBytesMax, what: "key"), to: try reader.readGroup())
        case .keyImporting: self = .keyImporting(key: try reader.readBytes(limit: limits.keyBytesMax, what: "key"))
        case .keyNotServed: self = .keyNotServed(key: try reader.readBytes(limit: limits.keyBytesMax, what: "key"))
        case .invalidMove:
            self = .invalidMove(String(decoding: try reader.readBytes(limit: 4096, what: "reason"), as: UTF8.self))
        case nil: throw .malformed("unknown error tag \(tag)")
        }
    }
}
