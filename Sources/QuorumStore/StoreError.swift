import QuorumConsensus
import QuorumSharding

/// Everything a store operation or a decoder can refuse. Each description says what was wrong and what to do.
public enum StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    case compacted(requested: Revision, oldestAvailable: Revision)
    case futureRevision(requested: Revision, current: Revision)
    case emptyKey
    case keyTooLarge(bytes: Int, limit: Int)
    case valueTooLarge(bytes: Int, limit: Int)
    case keyNotFound(key: [UInt8])
    case leaseNotFound(LeaseID)
    case leaseAlreadyExists(LeaseID)
    case invalidLeaseID
    case invalidTTL
    case leaseWithIgnoreLease
    case tooManyTransactionOperations(count: Int, limit: Int)
    case transactionTooDeep(limit: Int)
    case staleSequence(client: ClientID, sequence: SequenceNumber, latest: SequenceNumber)
    case commandTooLarge(bytes: Int, limit: Int)
    case unsupportedFormatVersion(UInt8)
    case malformed(String)
    /// The key (its hash slot, or its span of a range-sharded keyspace) was handed to another group.
    case keyMoved(key: [UInt8], to: GroupID)
    /// The key is being moved into this group, which serves it once the move finishes.
    case keyImporting(key: [UInt8])
    /// The key belongs to a range-sharded keyspace and to no span this group owns.
    case keyNotServed(key: [UInt8])
    /// A slot-move step that does not fit the group's slots; the reason says which.
    case invalidMove(String)

    public var description: String {
        switch self {
        case .compacted(let requested, let oldest):
            "revision \(requested.rawValue) has been compacted; the oldest available is \(oldest.rawValue)"
                + " (read at or after it, or resume a watch from it and re-read the current state)"
        case .futureRevision(let requested, let current):
            "revision \(requested.rawValue) is in the future; the current revision is \(current.rawValue)"
                + " (read at or before it, or omit the revision to read the latest)"
        case .emptyKey:
            "the key is empty; give a key of at least one byte"
        case .keyTooLarge(let bytes, let limit):
            "the key is \(bytes) bytes, over the limit of \(limit); use a shorter key"
        case .valueTooLarge(let bytes, let limit):
            "the value is \(bytes) bytes, over the limit of \(limit); split it over several keys"
        case .keyNotFound(let key):
            "key \(printable(key)) does not exist, so its value or lease cannot be kept;"
                + " put it with an explicit value and lease first"
        case .leaseNotFound(let id):
            "\(id) does not exist (it expired, was revoked or was never granted); grant a new lease"
        case .leaseAlreadyExists(let id):
            "\(id) already exists; choose another id or keep the existing lease alive"
        case .invalidLeaseID:
            "lease id 0 is reserved for \"no lease\"; choose a non-zero id"
        case .invalidTTL:
            "a lease TTL must be at least 1 second"
        case .leaseWithIgnoreLease:
            "a put cannot both set a lease and keep the current one; drop one of lease or ignoreLease"
        case .tooManyTransactionOperations(let count, let limit):
            "the transaction has \(count) operations, over the limit of \(limit); split it"
        case .transactionTooDeep(let limit):
            "transactions are nested more than \(limit) deep; flatten them"
        case .staleSequence(let client, let sequence, let latest):
            "\(client) sent sequence \(sequence.rawValue) but already completed \(latest.rawValue);"
                + " its result is no longer kept, so use a new sequence number for new requests"
        case .commandTooLarge(let bytes, let limit):
            "the command is \(bytes) bytes, over the limit of \(limit); split it"
        case .unsupportedFormatVersion(let version):
            "encoding format version \(version) is not supported by this node; upgrade it"
        case .malformed(let reason):
            "malformed encoding: \(reason); the sender has a bug or the bytes were corrupted"
        case .keyMoved(let key, let group):
            "key \(printable(key)) moved to group \(group.rawValue); send the request there"
        case .keyImporting(let key):
            "key \(printable(key)) is moving into this group; retry once the move finishes"
        case .keyNotServed(let key):
            "this group does not serve key \(printable(key)); read the shard map again and ask the group it names"
        case .invalidMove(let reason):
            reason
        }
    }
}

/// Keys are bytes; show them as text when they are printable ASCII, else as hex, so an error names the key usefully.
func printable(_ bytes: [UInt8]) -> String {
    let shown = bytes.prefix(64)
    let suffix = bytes.count > 64 ? "…" : ""
    if shown.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
        return "\"" + String(decoding: shown, as: UTF8.self) + suffix + "\""
    }
    let digits: [Character] = Array("0123456789abcdef")
    var text = "0x"
    for byte in shown {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0xf)])
    }
    return text + suffix
}
