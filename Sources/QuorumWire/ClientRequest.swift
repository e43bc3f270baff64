import QuorumCodec
import QuorumConsensus
import QuorumSharding
import QuorumStore

/// What a client asks of a node, as one `.clientRequest` frame carries it:
///
///     version u8 = 1 | request id u64 | group u64 | kind u8 | body
///     kind 1 write:  proposal length u32 | StoreProposal bytes     (goes through the log)
///     kind 2 read:   linearizable u8 | command length u32 | StoreCommand.range bytes
///     kind 3 status: nothing
///     kind 4 membership: change u8 (1 add, 2 remove, 3 transfer leadership) | node u64
///                        | for add: address (string "HOST:PEER_PORT:CLIENT_PORT") | stay learner u8
///     kind 5 watch:  key (bytes) | has range end u8 | range end (bytes)? | start revision u64 (0 = from now)
///     kind 6 cancel watch: the watch's request id u64
///     kind 7 leases: nothing
///     kind 8 groups: nothing (the node answers for every group it hosts; the request's group is ignored)
///     kind 9 create replica: nothing (the node creates an empty replica of the request's group)
///     kind 10 backup: nothing (the group's leader answers with its store at a linearizable point)
///     kind 11 update shard map: epoch it replaces u64 | map length u32 | ShardMap bytes
///     kind 12 shard map: nothing (group 1 answers with the map after a linearizable read)
///     kind 13 access: AccessRequest (authentication, users and roles; the node answers, group 1 stores)
///     kind 14 span load: start (bytes) | has end u8 | end (bytes)? (the node answers from the requests it served)
public struct ClientRequest: Hashable, Sendable {
    public enum Operation: Hashable, Sendable {
        case write(StoreProposal)
        /// A range read: linearizable (ReadIndex, the default) or serializable (this node's state, possibly stale).
        case read(RangeRequest, linearizable: Bool)
        case status
        case membership(MembershipRequest)
        /// Streams changes to a key or range, from `startRevision` (history first) or from now; every event batch
        /// and the final cancellation answer with this request's id.
        case watch(key: [UInt8], rangeEnd: [UInt8]?, startRevision: Revision?)
        case cancelWatch(requestID: UInt64)
        /// Every live lease with its time to live and keys (a linearizable read).
        case leases
        /// This node's view of every group it hosts (`GroupStatus`), answered by the node itself.
        case groups
        /// Creates an empty replica of the request's group on this node, to be added to the group by its leader
        /// and caught up from its log or a snapshot. Answered by the node itself with the new replica's status.
        case createReplica
        /// The group's store at a linearizable point, for a backup: answered by the group's leader after a ReadIndex
        /// (`GroupBackup`).
        case backup
        /// Stores a new shard map in group 1 if the stored one is still at `map.epoch` (the epoch the new map was
        /// made from); the answer is a transaction whose `succeeded` says whether it was stored.
        case updateShardMap(ShardMap)
        /// The cluster's shard map, as group 1's leader has it after a linearizable read.
        case shardMap
        /// Authenticates the connection, or reads or changes users and roles (`AccessRequest`).
        case access(AccessRequest)
        /// How many requests a second this node serves for keys in the span, in the request's group, and the key that
        /// would split them in halves (`SpanLoad`); measured only on a node run with `--split-load`.
        case spanLoad(KeySpan)
    }

    public enum MembershipRequest: Hashable, Sendable {
        /// Adds a node as a learner; unless `staysLearner`, the leader promotes it to voter once it has caught up.
        case add(NodeID, address: String, staysLearner: Bool)
        case remove(NodeID)
        case transferLeadership(to: NodeID)
    }

    public var requestID: UInt64
    public var group: GroupID
    public var operation: Operation

    public init(requestID: UInt64, group: GroupID, operation: Operation) {
        self.requestID = requestID
        self.group = group
        self.operation = operation
    }

    public var frame: Frame {
        var writer = ByteWriter(capacity: 64)
        writer.write(UInt8(1))
        writer.write(requestID)
        writer.write(group.rawValue)
        switch operation {
        case .write(let proposal):
            writer.write(UInt8(1))
            writer.writeLengthPrefixed(proposal.encoded)
        case .read(let request, let linearizable):
            writer.write(UInt8(2))
            writer.write(UInt8(linearizable ? 1 : 0))
            writer.writeLengthPrefixed(StoreCommand.range(request).encoded)
        case .status:
            writer.write(UInt8(3))
        case .membership(let change):
            writer.write(UInt8(4))
            switch change {
            case .add(let node, let address, let staysLearner):
                writer.write(UInt8(1))
                writer.write(node.rawValue)
                writer.writeString(address)
                writer.write(UInt8(staysLearner ? 1 : 0))
            case .remove(let node):
                writer.write(UInt8(2))
                writer.write(node.rawValue)
            case .transferLeadership(let node):
                writer.write(UInt8(3))
                writer.write(node.rawValue)
            }
        case .watch(let key, let rangeEnd, let startRevision):
            writer.write(UInt8(5))
            writer.writeLengthPrefixed(key)
            writer.write(UInt8(rangeEnd == nil ? 0 : 1))
            if let rangeEnd { writer.writeLengthPrefixed(rangeEnd) }
            writer.write(startRevision?.rawValue ?? 0)
        case .cancelWatch(let watch):
            writer.write(UInt8(6))
            writer.write(watch)
        case .leases:
            writer.write(UInt8(7))
        case .groups:
            writer.write(UInt8(8))
        case .createReplica:
            writer.write(UInt8(9))
        case .backup:
            writer.write(UInt8(10))
        case .updateShardMap(let map):
            writer.write(UInt8(11))
            writer.write(map)
        case .shardMap:
            writer.write(UInt8(12))
        case .access(let request):
            writer.write(UInt8(13))
            request.encode(into: &writer)
        case .spanLoad(let span):
            writer.write(UInt8(14))
            writer.writeLengthPrefixed(span.start)
            writer.write(UInt8(span.end == nil ? 0 : 1))
            if let end = span.end { writer.writeLengthPrefixed(end) }
        }
        return Frame(kind: .clientRequest, payload: writer.bytes)
    }

    public init(decoding frame: Frame, limits: StoreLimits = .default) throws(WireError) {
        guard frame.kind == .clientRequest else { throw .malformed("expected a client request, got \(frame.kind)") }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("request version")
            guard version == 1 else { throw .unsupportedVersion(what: "client request", version: version) }
            requestID = try reader.read(UInt64.self, "request id")
            group = GroupID(try reader.read(UInt64.self, "group"))
            switch try reader.readByte("request kind") {
            case 1:
                let bytes = try reader.readLengthPrefixed("proposal")
                operation = .write(
                    try decodeStore { () throws(StoreError) in try StoreProposal(decoding: bytes, limits: limits) })
            case 2:
                let linearizable = try reader.readBool("linearizable")
                let bytes = try reader.readLengthPrefixed("read command")
                let command = try decodeStore { () throws(StoreError) in
                    try StoreCommand(decoding: bytes, limits: limits)
                }
                guard case .range(let request) = command else {
                    throw .inconsistent("a read request must carry a range command")
                }
                operation = .read(request, linearizable: linearizable)
            case 3:
                operation = .status
            case 4:
                let change = try reader.readByte("membership change")
                let node = try reader.readNodeID("membership node")
                switch change {
                case 1:
                    let address = try reader.readString("member address")
                    operation = .membership(
                        .add(node, address: address, staysLearner: try reader.readBool("stays learner")))
                case 2: operation = .membership(.remove(node))
                case 3: operation = .membership(.transferLeadership(to: node))
                default: throw .invalid(field: "membership change", value: UInt64(change))
                }
            case 5:
                let key = try reader.readLengthPrefixed("watch key")
                guard key.count <= limits.keyBytesMax else {
                    throw .invalid(field: "watch key length", value: UInt64(key.count))
                }
                let rangeEnd =
                    try reader.readBool("has range end") ? try reader.readLengthPrefixed("watch range end") : nil
                let start = try reader.read(UInt64.self, "start revision")
                operation = .watch(key: key, rangeEnd: rangeEnd, startRevision: start == 0 ? nil : Revision(start))
            case 6:
                operation = .cancelWatch(requestID: try reader.read(UInt64.self, "watch id"))
            case 7:
                operation = .leases
            case 8:
                operation = .groups
            case 9:
                operation = .createReplica
            case 10:
                operation = .backup
            case 11:
                operation = .updateShardMap(try reader.readShardMap())
            case 12:
                operation = .shardMap
            case 13:
                operation = .access(try AccessRequest.decode(from: &reader))
            case 14:
                let start = try reader.readLengthPrefixed("span start")
                let end = try reader.readBool("span has end") ? try reader.readLengthPrefixed("span end") : nil
                guard start.count <= limits.keyBytesMax, (end?.count ?? 0) <= limits.keyBytesMax,
                    let span = KeySpan(start: start, end: end)
                else { throw .inconsistent("a span's keys must be within the key limit, its end after its start") }
                operation = .spanLoad(span)
            case let other:
                throw .invalid(field: "request kind", value: UInt64(other))
            }
            try reader.expectEnd(of: "client request")
        } catch {
            throw .malformed(error.description)
        }
    }
}

/// Runs a store decoder, reporting its refusal as a decoding failure of the frame around it.
func decodeStore<Value>(_ decode: () throws(StoreError) -> Value) throws(DecodingFailure) -> Value {
    do { return try decode() } catch { throw .inconsistent(error.description) }
}

extension ByteWriter {
    mutating func writeLengthPrefixed(_ bytes: [UInt8]) {
        write(UInt32(bytes.count))
        write(contentsOf: bytes)
    }

    mutating func writeString(_ string: String) { writeLengthPrefixed(Array(string.utf8)) }
}

extension ByteReader {
    mutating func readLengthPrefixed(_ field: String) throws(DecodingFailure) -> [UInt8] {
        let length = try read(UInt32.self, "\(field) length")
        return try readBytes(count: UInt64(length), field)
    }

    mutating func readString(_ field: String) throws(DecodingFailure) -> String {
        String(decoding: try readLengthPrefixed(field), as: UTF8.self)
    }
}

extension ByteWriter {
    /// A shard map as requests and responses carry it: its epoch, then its encoding, length-prefixed.
    mutating func write(_ map: ShardMap) {
        write(map.epoch)
        writeLengthPrefixed(map.encoded)
    }
}

extension ByteReader {
    mutating func readShardMap() throws(DecodingFailure) -> ShardMap {
        let epoch = try read(UInt64.self, "shard map epoch")
        let bytes = try readLengthPrefixed("shard map")
        do { return try ShardMap(decoding: bytes, epoch: epoch) } catch { throw .inconsistent(error.description) }
    }
}
