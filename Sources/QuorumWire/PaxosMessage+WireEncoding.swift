import QuorumCodec
import QuorumConsensus

/// Wire encoding of the Multi-Paxos payloads, after the common message header (from, to, term). Their tags start at
/// 32, apart from Raft's (1 to 10), whose encodings are unchanged:
///
///     32 prepare:           firstSlot u64 | isTransfer u8
///     33 promise:           commitIndex u64 | count u32 | (round u64 | value: Entry)…
///     34 accept:            commitIndex u64 | readContext u64 | count u32 | value: Entry…
///     35 accepted:          acceptedThrough u64 | requestLast u64 | readContext u64
///     36 reject:            refusedRound u64 | promisedNode u64 (0 only with a promise of round 0) | compactedThrough u64
///     37 snapshot:          Snapshot
///     38 timeoutNow
///     39 readIndexRequest:  requestID u64
///     40 readIndexResponse: requestID u64 | present u8 | index u64 (0 when absent)
///
/// Decoding checks every field's encoding (ranges, flags, counts against what is left); the engine then checks what
/// the fields mean against its state.
extension PaxosMessage {
    static let wireTags: ClosedRange<UInt8> = 32...40

    private var tag: UInt8 {
        switch self {
        case .prepare: 32
        case .promise: 33
        case .accept: 34
        case .accepted: 35
        case .reject: 36
        case .snapshot: 37
        case .timeoutNow: 38
        case .readIndexRequest: 39
        case .readIndexResponse: 40
        }
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(tag)
        switch self {
        case .prepare(let firstSlot, let isTransfer):
            writer.write(firstSlot.rawValue)
            writer.write(UInt8(isTransfer ? 1 : 0))
        case .promise(let promise):
            writer.write(promise.commitIndex.rawValue)
            writer.write(UInt32(promise.accepted.count))
            for item in promise.accepted {
                writer.write(item.round.rawValue)
                item.value.encode(into: &writer)
            }
        case .accept(let accept):
            writer.write(accept.commitIndex.rawValue)
            writer.write(accept.readContext)
            writer.write(UInt32(accept.entries.count))
            for value in accept.entries { value.encode(into: &writer) }
        case .accepted(let accepted):
            writer.write(accepted.acceptedThrough.rawValue)
            writer.write(accepted.requestLast.rawValue)
            writer.write(accepted.readContext)
        case .reject(let rejection):
            writer.write(rejection.refusedRound.rawValue)
            writer.write(rejection.promisedNode.rawValue)
            writer.write(rejection.compactedThrough.rawValue)
        case .snapshot(let snapshot):
            snapshot.encode(into: &writer)
        case .timeoutNow:
            break
        case .readIndexRequest(let requestID):
            writer.write(requestID)
        case .readIndexResponse(let requestID, let index):
            writer.write(requestID)
            writer.write(UInt8(index == nil ? 0 : 1))
            writer.write(index?.rawValue ?? 0)
        }
    }

    static func decode(tag: UInt8, from reader: inout ByteReader) throws(DecodingFailure) -> PaxosMessage {
        switch tag {
        case 32:
            let firstSlot = try reader.readLogIndex("first slot")
            guard firstSlot > .zero else { throw .invalid(field: "first slot", value: 0) }
            return .prepare(firstSlot: firstSlot, isTransfer: try reader.readBool("transfer flag"))
        case 33:
            let commitIndex = try reader.readLogIndex("promise commit index")
            // A round (8 bytes) and the smallest entry (18 bytes) per accepted value.
            let count = try reader.readCount("promised value count", minimumItemBytes: 26)
            var accepted: [AcceptedValue] = []
            accepted.reserveCapacity(count)
            var previous = LogIndex.zero
            for _ in 0..<count {
                let round = Term(try reader.read(UInt64.self, "accepted round"))
                let value = try Entry.decode(from: &reader)
                guard round > 0 else { throw .invalid(field: "accepted round", value: 0) }
                guard value.term <= round else {
                    throw .inconsistent("slot \(value.index) holds a value of round \(value.term) accepted in round \(round)")
                }
                guard value.index > previous else {
                    throw .inconsistent("promised slot \(value.index) does not follow slot \(previous)")
                }
                previous = value.index
                accepted.append(AcceptedValue(round: round, value: value))
            }
            return .promise(PaxosPromise(commitIndex: commitIndex, accepted: accepted))
        case 34:
            let commitIndex = try reader.readLogIndex("accept commit index")
            let readContext = try reader.read(UInt64.self, "read context")
            let count = try reader.readCount("accepted value count", minimumItemBytes: 18)
            var entries: [Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let value = try Entry.decode(from: &reader)
                if let last = entries.last, value.index != last.index.advanced(by: 1) {
                    throw .inconsistent("accepted slot \(value.index) does not follow slot \(last.index)")
                }
                entries.append(value)
            }
            return .accept(PaxosAccept(entries: entries, commitIndex: commitIndex, readContext: readContext))
        case 35:
            return .accepted(
                PaxosAccepted(
                    acceptedThrough: try reader.readLogIndex("accepted through"),
                    requestLast: try reader.readLogIndex("request last"),
                    readContext: try reader.read(UInt64.self, "read context")))
        case 36:
            let refusedRound = Term(try reader.read(UInt64.self, "refused round"))
            let promisedNode = NodeID(try reader.read(UInt64.self, "promised node"))
            let compactedThrough = try reader.readLogIndex("compacted through")
            return .reject(
                PaxosRejection(refusedRound: refusedRound, promisedNode: promisedNode, compactedThrough: compactedThrough))
        case 37:
            return .snapshot(try Snapshot.decode(from: &reader))
        case 38:
            return .timeoutNow
        case 39:
            return .readIndexRequest(requestID: try reader.read(UInt64.self, "read request id"))
        case 40:
            let requestID = try reader.read(UInt64.self, "read request id")
            let hasIndex = try reader.readByte("read index present")
            let index = try reader.readLogIndex("read index")
            guard hasIndex == 1 || (hasIndex == 0 && index == 0) else {
                throw .invalid(field: "read index present", value: UInt64(hasIndex))
            }
            return .readIndexResponse(requestID: requestID, index: hasIndex == 1 ? index : nil)
        default:
            throw .invalid(field: "message tag", value: UInt64(tag))
        }
    }
}
