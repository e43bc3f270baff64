import QuorumCodec
import QuorumConsensus

extension Message {
    private enum Tag: UInt8 {
        case appendEntries = 1, appendEntriesResponse, requestVote, requestVoteResponse, heartbeat
        case heartbeatResponse, installSnapshot, timeoutNow, readIndexRequest, readIndexResponse
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(from.rawValue)
        writer.write(to.rawValue)
        writer.write(term.rawValue)
        switch payload {
        case .appendEntries(let append):
            writer.write(Tag.appendEntries.rawValue)
            writer.write(append.previousIndex.rawValue)
            writer.write(append.previousTerm.rawValue)
            writer.write(append.leaderCommit.rawValue)
            writer.write(UInt32(append.entries.count))
            for entry in append.entries { entry.encode(into: &writer) }
        case .appendEntriesResponse(.accepted(let matchIndex)):
            writer.write(Tag.appendEntriesResponse.rawValue)
            writer.write(UInt8(0))
            writer.write(matchIndex.rawValue)
        case .appendEntriesResponse(.rejected(let rejectedIndex, let hintIndex, let hintTerm)):
            writer.write(Tag.appendEntriesResponse.rawValue)
            writer.write(UInt8(1))
            writer.write(rejectedIndex.rawValue)
            writer.write(hintIndex.rawValue)
            writer.write(hintTerm.rawValue)
        case .requestVote(let request):
            writer.write(Tag.requestVote.rawValue)
            writer.write(request.lastLogIndex.rawValue)
            writer.write(request.lastLogTerm.rawValue)
            writer.write(UInt8((request.isPreVote ? 1 : 0) | (request.isLeadershipTransfer ? 2 : 0)))
        case .requestVoteResponse(let granted, let isPreVote):
            writer.write(Tag.requestVoteResponse.rawValue)
            writer.write(UInt8((granted ? 1 : 0) | (isPreVote ? 2 : 0)))
        case .heartbeat(let commitIndex, let readContext):
            writer.write(Tag.heartbeat.rawValue)
            writer.write(commitIndex.rawValue)
            writer.write(readContext)
        case .heartbeatResponse(let readContext):
            writer.write(Tag.heartbeatResponse.rawValue)
            writer.write(readContext)
        case .installSnapshot(let snapshot):
            writer.write(Tag.installSnapshot.rawValue)
            snapshot.encode(into: &writer)
        case .timeoutNow:
            writer.write(Tag.timeoutNow.rawValue)
        case .readIndexRequest(let requestID):
            writer.write(Tag.readIndexRequest.rawValue)
            writer.write(requestID)
        case .readIndexResponse(let requestID, let index):
            writer.write(Tag.readIndexResponse.rawValue)
            writer.write(requestID)
            writer.write(UInt8(index == nil ? 0 : 1))
            writer.write(index?.rawValue ?? 0)
        case .paxos(let paxos):
            paxos.encode(into: &writer)
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> Message {
        let from = try reader.readNodeID("message sender")
        let to = try reader.readNodeID("message recipient")
        let term = Term(try reader.read(UInt64.self, "message term"))
        let tagByte = try reader.readByte("message tag")
        if PaxosMessage.wireTags.contains(tagByte) {
            return Message(from: from, to: to, term: term, payload: .paxos(try PaxosMessage.decode(tag: tagByte, from: &reader)))
        }
        guard let tag = Tag(rawValue: tagByte) else { throw .invalid(field: "message tag", value: UInt64(tagByte)) }
        let payload: Payload
        switch tag {
        case .appendEntries:
            let previousIndex = try reader.readLogIndex("previous index")
            let previousTerm = Term(try reader.read(UInt64.self, "previous term"))
            let leaderCommit = try reader.readLogIndex("leader commit")
            let count = try reader.readCount("entry count", minimumItemBytes: 18)
            var entries: [Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count { entries.append(try Entry.decode(from: &reader)) }
            payload = .appendEntries(
                AppendEntries(
                    previousIndex: previousIndex, previousTerm: previousTerm, entries: entries,
                    leaderCommit: leaderCommit))
        case .appendEntriesResponse:
            switch try reader.readByte("append response kind") {
            case 0: payload = .appendEntriesResponse(.accepted(matchIndex: try reader.readLogIndex("match index")))
            case 1:
                payload = .appendEntriesResponse(
                    .rejected(
                        rejectedIndex: try reader.readLogIndex("rejected index"),
                        hintIndex: try reader.readLogIndex("hint index"),
                        hintTerm: Term(try reader.read(UInt64.self, "hint term"))))
            case let other: throw .invalid(field: "append response kind", value: UInt64(other))
            }
        case .requestVote:
            let lastLogIndex = try reader.readLogIndex("last log index")
            let lastLogTerm = Term(try reader.read(UInt64.self, "last log term"))
            let flags = try reader.readByte("vote flags")
            guard flags < 4 else { throw .invalid(field: "vote flags", value: UInt64(flags)) }
            payload = .requestVote(
                VoteRequest(
                    lastLogIndex: lastLogIndex, lastLogTerm: lastLogTerm, isPreVote: flags & 1 != 0,
                    isLeadershipTransfer: flags & 2 != 0))
        case .requestVoteResponse:
            let flags = try reader.readByte("vote response flags")
            guard flags < 4 else { throw .invalid(field: "vote response flags", value: UInt64(flags)) }
            payload = .requestVoteResponse(granted: flags & 1 != 0, isPreVote: flags & 2 != 0)
        case .heartbeat:
            payload = .heartbeat(
                commitIndex: try reader.readLogIndex("commit index"),
                readContext: try reader.read(UInt64.self, "read context"))
        case .heartbeatResponse:
            payload = .heartbeatResponse(readContext: try reader.read(UInt64.self, "read context"))
        case .installSnapshot:
            payload = .installSnapshot(try Snapshot.decode(from: &reader))
        case .timeoutNow:
            payload = .timeoutNow
        case .readIndexRequest:
            payload = .readIndexRequest(requestID: try reader.read(UInt64.self, "read request id"))
        case .readIndexResponse:
            let requestID = try reader.read(UInt64.self, "read request id")
            let hasIndex = try reader.readByte("read index present")
            let index = try reader.readLogIndex("read index")
            guard hasIndex == 1 || (hasIndex == 0 && index == 0) else {
                throw .invalid(field: "read index present", value: UInt64(hasIndex))
            }
            payload = .readIndexResponse(requestID: requestID, index: hasIndex == 1 ? index : nil)
        }
        return Message(from: from, to: to, term: term, payload: payload)
    }
}
