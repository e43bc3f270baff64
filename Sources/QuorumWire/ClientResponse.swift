import QuorumCodec
import QuorumConsensus
import QuorumSharding
import QuorumStore

/// A node's answer to one `ClientRequest`, matched by request id:
///
///     version u8 = 1 | request id u64 | kind u8 | body
///     kind 1 result:     StoreResult length u32 | bytes
///     kind 2 not leader: leader id u64 (0 unknown) | leader client address (string)
///     kind 3 failed:     message (string)
///     kind 4 status:     NodeStatus
///     kind 5 unavailable: message (string); nothing took effect, or a retry with the same session is safe
///     kind 6 watch events: events (bytes, `WatchEvent.encode`)
///     kind 7 watch ended: reason (string) | resume revision u64 (0 = none)
///     kind 8 leases:     count u32 | (id u64 | ttl u64 | remaining u64 | deadline u64 | keys: count u32, bytes…)…
///     kind 9 groups:     count u32 | (group u64 | role (string) | term u64 | leader u64 | commit u64 | applied u64
///                        | quiescent u8 | voters: count u32, ids u64… | learners: count u32, ids u64…)…
///     kind 10 backup:    GroupBackup
///     kind 11 shard map: epoch u64 | map length u32 | ShardMap bytes
///     kind 12 authenticated: user (string) | token (string)
///     kind 13 access summary: AccessSummary
///     kind 14 span load: requests per second u64 | has split key u8 | split key (bytes)?
///
/// A response larger than `frameBytesMax` (a backup, mostly) travels as frame parts (`FrameParts`), which the client
/// puts back together.
public struct ClientResponse: Hashable, Sendable {
    public enum Outcome: Hashable, Sendable {
        case result(StoreResult)
        /// Ask the leader instead; its address is empty when no leader is known (retry after an election).
        case notLeader(leader: NodeID?, clientAddress: String)
        /// The request was refused; the message says why and what to do.
        case failed(String)
        case status(NodeStatus)
        /// Transient: leadership changed under the request. Retrying is safe (writes carry a session, so a write
        /// that did take effect is not applied twice).
        case unavailable(String)
        /// Changes for the watch with this request's id, in revision order.
        case watchEvents([WatchEvent])
        /// The watch is over (cancelled, too slow, compacted, or the node stopped serving it); the reason says which.
        /// With `resumeRevision`, a new watch from there misses nothing.
        case watchEnded(reason: String, resumeRevision: Revision?)
        case leases([LeaseStatus])
        case groups([GroupStatus])
        case backup(GroupBackup)
        /// The cluster's shard map, read linearizably from group 1.
        case shardMap(ShardMap)
        case access(AccessAnswer)
        case spanLoad(SpanLoad)
    }

    /// The largest frame a client accepts, and so the largest part a node sends it.
    public static let frameBytesMax = 16 << 20
    /// The largest response a client puts back together from parts (as large as a peer message may be).
    public static let assembledBytesMax = 8 << 30

    public var requestID: UInt64
    public var outcome: Outcome

    public init(requestID: UInt64, outcome: Outcome) {
        self.requestID = requestID
        self.outcome = outcome
    }

    public var frame: Frame {
        var writer = ByteWriter(capacity: 64)
        writer.write(UInt8(1))
        writer.write(requestID)
        switch outcome {
        case .result(let result):
            writer.write(UInt8(1))
            writer.writeLengthPrefixed(result.encoded)
        case .notLeader(let leader, let address):
            writer.write(UInt8(2))
            writer.write(leader?.rawValue ?? 0)
            writer.writeString(address)
        case .failed(let message):
            writer.write(UInt8(3))
            writer.writeString(message)
        case .status(let status):
            writer.write(UInt8(4))
            status.encode(into: &writer)
        case .unavailable(let message):
            writer.write(UInt8(5))
            writer.writeString(message)
        case .watchEvents(let events):
            writer.write(UInt8(6))
            writer.writeLengthPrefixed(WatchEvent.encode(events))
        case .watchEnded(let reason, let resume):
            writer.write(UInt8(7))
            writer.writeString(reason)
            writer.write(resume?.rawValue ?? 0)
        case .leases(let leases):
            writer.write(UInt8(8))
            writer.write(UInt32(leases.count))
            for lease in leases {
                writer.write(lease.id.rawValue)
                writer.write(lease.grantedTTL.milliseconds)
                writer.write(lease.remainingSeconds)
                writer.write(lease.deadline.rawValue)
                writer.write(UInt32(lease.keys.count))
                for key in lease.keys { writer.writeLengthPrefixed(key) }
            }
        case .groups(let groups):
            writer.write(UInt8(9))
            writer.write(UInt32(groups.count))
            for group in groups { group.encode(into: &writer) }
        case .backup(let backup):
            writer.write(UInt8(10))
            backup.encode(into: &writer)
        case .shardMap(let map):
            writer.write(UInt8(11))
            writer.write(map)
        case .access(.authenticated(let user, let token)):
            writer.write(UInt8(12))
            writer.writeString(user)
            writer.writeString(token)
        case .access(.summary(let summary)):
            writer.write(UInt8(13))
            summary.encode(into: &writer)
        case .spanLoad(let load):
            writer.write(UInt8(14))
            writer.write(UInt64(max(0, load.requestsPerSecond)))
            writer.write(UInt8(load.splitKey == nil ? 0 : 1))
            if let key = load.splitKey { writer.writeLengthPrefixed(key) }
        }
        return Frame(kind: .clientResponse, payload: writer.bytes)
    }

    public init(decoding frame: Frame) throws(WireError) {
        guard frame.kind == .clientResponse else { throw .malformed("expected a client response, got \(frame.kind)") }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("response version")
            guard version == 1 else { throw .unsupportedVersion(what: "client response", version: version) }
            requestID = try reader.read(UInt64.self, "request id")
            switch try reader.readByte("response kind") {
            case 1:
                let bytes = try reader.readLengthPrefixed("result")
                outcome = .result(try decodeStore { () throws(StoreError) in try StoreResult(decoding: bytes) })
            case 2:
                let leader = try reader.read(UInt64.self, "leader")
                outcome = .notLeader(
                    leader: leader == 0 ? nil : NodeID(leader), clientAddress: try reader.readString("leader address"))
            case 3:
                outcome = .failed(try reader.readString("message"))
            case 4:
                outcome = .status(try NodeStatus.decode(from: &reader))
            case 5:
                outcome = .unavailable(try reader.readString("message"))
            case 6:
                let bytes = try reader.readLengthPrefixed("watch events")
                outcome = .watchEvents(try decodeStore { () throws(StoreError) in try WatchEvent.decode(bytes) })
            case 7:
                let reason = try reader.readString("reason")
                let resume = try reader.read(UInt64.self, "resume revision")
                outcome = .watchEnded(reason: reason, resumeRevision: resume == 0 ? nil : Revision(resume))
            case 8:
                let count = try reader.readCount("leases", minimumItemBytes: 36)
                var leases: [LeaseStatus] = []
                for _ in 0..<count {
                    let id = try reader.read(UInt64.self, "lease id")
                    let ttl = try reader.read(UInt64.self, "lease ttl")
                    let remaining = try reader.read(UInt64.self, "lease remaining")
                    let deadline = try reader.read(UInt64.self, "lease deadline")
                    let keyCount = try reader.readCount("lease keys", minimumItemBytes: 4)
                    var keys: [[UInt8]] = []
                    for _ in 0..<keyCount { keys.append(try reader.readLengthPrefixed("lease key")) }
                    leases.append(
                        LeaseStatus(
                            id: LeaseID(id), grantedTTL: LeaseTTL(milliseconds: ttl), remainingSeconds: remaining,
                            deadline: StoreTime(milliseconds: deadline), keys: keys))
                }
                outcome = .leases(leases)
            case 9:
                let count = try reader.readCount("groups", minimumItemBytes: 53)
                var groups: [GroupStatus] = []
                groups.reserveCapacity(count)
                for _ in 0..<count { groups.append(try GroupStatus.decode(from: &reader)) }
                outcome = .groups(groups)
            case 10:
                outcome = .backup(try GroupBackup.decode(from: &reader))
            case 11:
                outcome = .shardMap(try reader.readShardMap())
            case 12:
                outcome = .access(
                    .authenticated(user: try reader.readString("user"), token: try reader.readString("token")))
            case 13:
                outcome = .access(.summary(try AccessSummary.decode(from: &reader)))
            case 14:
                let perSecond = try reader.read(UInt64.self, "requests per second")
                let key = try reader.readBool("has split key") ? try reader.readLengthPrefixed("split key") : nil
                outcome = .spanLoad(SpanLoad(requestsPerSecond: Int(clamping: perSecond), splitKey: key))
            case let other:
                throw .invalid(field: "response kind", value: UInt64(other))
            }
            try reader.expectEnd(of: "client response")
        } catch {
            throw .malformed(error.description)
        }
    }
}

/// One node's view of its group, for `quorum cluster status`.
public struct NodeStatus: Hashable, Sendable {
    public var node: NodeID
    public var role: String
    public var term: Term
    public var leader: NodeID?
    public var commitIndex: LogIndex
    public var appliedIndex: LogIndex
    public var lastIndex: LogIndex
    public var voters: [NodeID]
    public var learners: [NodeID]

    public init(
        node: NodeID, role: String, term: Term, leader: NodeID?, commitIndex: LogIndex, appliedIndex: LogIndex,
        lastIndex: LogIndex, voters: [NodeID], learners: [NodeID]
    ) {
        self.node = node
        self.role = role
        self.term = term
        self.leader = leader
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.lastIndex = lastIndex
        self.voters = voters
        self.learners = learners
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(node.rawValue)
        writer.writeString(role)
        writer.write(term.rawValue)
        writer.write(leader?.rawValue ?? 0)
        writer.write(commitIndex.rawValue)
        writer.write(appliedIndex.rawValue)
        writer.write(lastIndex.rawValue)
        writer.writeMembers(voters: voters, learners: learners)
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> NodeStatus {
        let node = try reader.readNodeID("status node")
        let role = try reader.readString("status role")
        let term = Term(try reader.read(UInt64.self, "status term"))
        let leader = try reader.read(UInt64.self, "status leader")
        let commit = try reader.readLogIndex("status commit")
        let applied = try reader.readLogIndex("status applied")
        let last = try reader.readLogIndex("status last")
        let (voters, learners) = try reader.readMembers()
        return NodeStatus(
            node: node, role: role, term: term, leader: leader == 0 ? nil : NodeID(leader), commitIndex: commit,
            appliedIndex: applied, lastIndex: last, voters: voters, learners: learners)
    }
}

/// One node's view of one group it hosts, for `quorum group list` and the group counts of `quorum cluster status`.
public struct GroupStatus: Hashable, Sendable {
    public var group: GroupID
    public var role: String
    public var term: Term
    public var leader: NodeID?
    public var commitIndex: LogIndex
    public var appliedIndex: LogIndex
    /// Idle: it sends no heartbeats of its own (see `RaftOptions.quiescence`).
    public var isQuiescent: Bool
    /// The group's members as this replica knows them (the leader's view is the one the placement driver reads).
    public var voters: [NodeID]
    public var learners: [NodeID]

    public init(
        group: GroupID, role: String, term: Term, leader: NodeID?, commitIndex: LogIndex, appliedIndex: LogIndex,
        isQuiescent: Bool = false, voters: [NodeID] = [], learners: [NodeID] = []
    ) {
        self.group = group
        self.role = role
        self.term = term
        self.leader = leader
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.isQuiescent = isQuiescent
        self.voters = voters
        self.learners = learners
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(group.rawValue)
        writer.writeString(role)
        writer.write(term.rawValue)
        writer.write(leader?.rawValue ?? 0)
        writer.write(commitIndex.rawValue)
        writer.write(appliedIndex.rawValue)
        writer.write(UInt8(isQuiescent ? 1 : 0))
        writer.writeMembers(voters: voters, learners: learners)
    }

    static func decode(from reader: inout ByteReader) throws(DecodingFailure) -> GroupStatus {
        let group = GroupID(try reader.read(UInt64.self, "group"))
        let role = try reader.readString("group role")
        let term = Term(try reader.read(UInt64.self, "group term"))
        let leader = try reader.read(UInt64.self, "group leader")
        let commit = try reader.readLogIndex("group commit")
        let applied = try reader.readLogIndex("group applied")
        let quiescent = try reader.readBool("group quiescent")
        let (voters, learners) = try reader.readMembers()
        return GroupStatus(
            group: group, role: role, term: term, leader: leader == 0 ? nil : NodeID(leader), commitIndex: commit,
            appliedIndex: applied, isQuiescent: quiescent, voters: voters, learners: learners)
    }
}

extension ByteWriter {
    /// Voters, then learners: each a count u32 and the node ids.
    fileprivate mutating func writeMembers(voters: [NodeID], learners: [NodeID]) {
        for members in [voters, learners] {
            write(UInt32(members.count))
            for member in members { write(member.rawValue) }
        }
    }
}

extension ByteReader {
    fileprivate mutating func readMembers() throws(DecodingFailure) -> (voters: [NodeID], learners: [NodeID]) {
        var groups: [[NodeID]] = []
        for field in ["voters", "learners"] {
            let count = try readCount(field, minimumItemBytes: 8)
            var members: [NodeID] = []
            for _ in 0..<count { members.append(try readNodeID(field)) }
            groups.append(members)
        }
        return (groups[0], groups[1])
    }
}
