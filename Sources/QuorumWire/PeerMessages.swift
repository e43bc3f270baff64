import QuorumCodec
import QuorumConsensus

/// Everything one node sends another in one event-loop turn: the consensus messages of every group the two
/// share, in one `.peerMessages` frame, so that a thousand groups cost one frame per turn, not a thousand.
///
///     version u8 = 2 | group count u32 | (group u64 | count u32 | messages…)…
///     version 1 (still read): version | group u64 | count u32 | messages…
///     message: from u64 | to u64 | term u64 | payload tag u8 | payload fields
public struct PeerMessages: Hashable, Sendable {
    /// One group's messages, in the order they were sent.
    public struct GroupMessages: Hashable, Sendable {
        public var group: GroupID
        public var messages: [Message]

        public init(group: GroupID, messages: [Message]) {
            self.group = group
            self.messages = messages
        }
    }

    /// Each group at most once.
    public var groups: [GroupMessages]

    public init(groups: [GroupMessages]) { self.groups = groups }

    public init(group: GroupID, messages: [Message]) {
        self.init(groups: [GroupMessages(group: group, messages: messages)])
    }

    static let encodingVersion: UInt8 = 2

    public var frame: Frame {
        let bytes = groups.reduce(5) { total, group in group.messages.reduce(total + 12) { $0 + $1.sizeInBytes } }
        var writer = ByteWriter(capacity: bytes)
        writer.write(PeerMessages.encodingVersion)
        writer.write(UInt32(groups.count))
        for group in groups {
            writer.write(group.group.rawValue)
            writer.write(UInt32(group.messages.count))
            for message in group.messages { message.encode(into: &writer) }
        }
        return Frame(kind: .peerMessages, payload: writer.bytes)
    }

    public init(decoding frame: Frame) throws(WireError) {
        guard frame.kind == .peerMessages else { throw .malformed("expected peer messages, got \(frame.kind)") }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("peer messages version")
            switch version {
            case 1:
                groups = [try Self.decodeGroup(from: &reader)]
            case 2:
                let count = try reader.readCount("group count", minimumItemBytes: 12)
                groups = []
                groups.reserveCapacity(count)
                var seen = Set<GroupID>()
                for _ in 0..<count {
                    let group = try Self.decodeGroup(from: &reader)
                    guard seen.insert(group.group).inserted else {
                        throw .inconsistent("group \(group.group.rawValue) appears twice in one batch")
                    }
                    groups.append(group)
                }
            default:
                throw .unsupportedVersion(what: "peer messages", version: version)
            }
            try reader.expectEnd(of: "peer messages")
        } catch {
            throw .malformed(error.description)
        }
    }

    private static func decodeGroup(from reader: inout ByteReader) throws(DecodingFailure) -> GroupMessages {
        let group = GroupID(try reader.read(UInt64.self, "group"))
        let count = try reader.readCount("message count", minimumItemBytes: 25)
        var messages: [Message] = []
        messages.reserveCapacity(count)
        for _ in 0..<count { messages.append(try Message.decode(from: &reader)) }
        return GroupMessages(group: group, messages: messages)
    }
}

/// The first frame on a peer connection: the caller's node id, so that answers find their way back; its cluster's
/// id, so that a node of another cluster is refused; and the ports it serves Redis and HTTP on, if any, so that a
/// follower can name the leader's Redis address and a dashboard can link to the other members' pages.
///
///     version u8 = 4 | node u64 | redis port u16 | http port u16 (0: none) | cluster id u64 (0: not known yet)
///         | cluster groups u32 (0: not known yet)
///     version 3: without the cluster groups; version 2: nor the cluster id; version 1: version | node
public struct PeerHello: Hashable, Sendable {
    public var node: NodeID
    public var redisPort: Int?
    public var httpPort: Int?
    /// nil from a node of an earlier version, or from one that joined and has not yet heard from its cluster.
    public var clusterID: UInt64?
    /// How many groups the cluster was founded with (the Redis port spreads its hash slots over them); nil when not
    /// known, as for `clusterID`.
    public var clusterGroups: Int?

    public init(
        node: NodeID, redisPort: Int? = nil, httpPort: Int? = nil, clusterID: UInt64? = nil, clusterGroups: Int? = nil
    ) {
        self.node = node
        self.redisPort = redisPort
        self.httpPort = httpPort
        self.clusterID = clusterID
        self.clusterGroups = clusterGroups
    }

    public var frame: Frame {
        var writer = ByteWriter(capacity: 25)
        writer.write(UInt8(4))
        writer.write(node.rawValue)
        writer.write(UInt16(clamping: redisPort ?? 0))
        writer.write(UInt16(clamping: httpPort ?? 0))
        writer.write(clusterID ?? 0)
        writer.write(UInt32(clamping: clusterGroups ?? 0))
        return Frame(kind: .peerHello, payload: writer.bytes)
    }

    public init(decoding frame: Frame) throws(WireError) {
        guard frame.kind == .peerHello else { throw .malformed("expected a hello, got \(frame.kind)") }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("hello version")
            guard (1...4).contains(version) else { throw .unsupportedVersion(what: "hello", version: version) }
            node = try reader.readNodeID("hello node")
            let redis = version >= 2 ? try reader.read(UInt16.self, "hello redis port") : 0
            let http = version >= 2 ? try reader.read(UInt16.self, "hello http port") : 0
            let cluster = version >= 3 ? try reader.read(UInt64.self, "hello cluster id") : 0
            let groups = version >= 4 ? try reader.read(UInt32.self, "hello cluster groups") : 0
            redisPort = redis == 0 ? nil : Int(redis)
            httpPort = http == 0 ? nil : Int(http)
            clusterID = cluster == 0 ? nil : cluster
            clusterGroups = groups == 0 ? nil : Int(groups)
            try reader.expectEnd(of: "hello")
        } catch {
            throw .malformed(error.description)
        }
    }
}

/// A leader telling a node that a group's committed configuration no longer includes it. A leader stops
/// replicating to a node the moment it appends the node's removal, so a removed node never hears of it through
/// the log; it only keeps asking for votes. The leader answers such a request, and the removal's commit, with this.
///
/// Peers are not authenticated yet, so a notice alone proves nothing: the node asks the leader, at the leader's
/// own address, to confirm (`MembershipQuery`), and acts only on a notice that echoes the query's nonce. A forger
/// elsewhere on the network never sees the nonce.
///
///     version u8 = 2 | group u64 | removed node u64 | leader u64 | term u64 | configuration index u64 | nonce u64
///     version 1 (still read): without the nonce (0: unsolicited)
public struct MembershipNotice: Hashable, Sendable {
    public var group: GroupID
    public var removed: NodeID
    public var leader: NodeID
    /// The leader's term: a node takes the word of no leader older than its own term.
    public var term: Term
    /// The entry that introduced the committed configuration without the node.
    public var configurationIndex: LogIndex
    /// The nonce of the `MembershipQuery` this answers; 0 for an unsolicited notice.
    public var nonce: UInt64

    public init(
        group: GroupID, removed: NodeID, leader: NodeID, term: Term, configurationIndex: LogIndex, nonce: UInt64 = 0
    ) {
        self.group = group
        self.removed = removed
        self.leader = leader
        self.term = term
        self.configurationIndex = configurationIndex
        self.nonce = nonce
    }

    public var frame: Frame {
        var writer = ByteWriter(capacity: 49)
        writer.write(UInt8(2))
        writer.write(group.rawValue)
        writer.write(removed.rawValue)
        writer.write(leader.rawValue)
        writer.write(term.rawValue)
        writer.write(configurationIndex.rawValue)
        writer.write(nonce)
        return Frame(kind: .membershipNotice, payload: writer.bytes)
    }

    public init(decoding frame: Frame) throws(WireError) {
        guard frame.kind == .membershipNotice else {
            throw .malformed("expected a membership notice, got \(frame.kind)")
        }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("membership notice version")
            guard version == 1 || version == 2 else {
                throw .unsupportedVersion(what: "membership notice", version: version)
            }
            group = GroupID(try reader.read(UInt64.self, "group"))
            removed = try reader.readNodeID("removed node")
            leader = try reader.readNodeID("leader")
            term = Term(try reader.read(UInt64.self, "term"))
            configurationIndex = try reader.readLogIndex("configuration index")
            nonce = version == 2 ? try reader.read(UInt64.self, "nonce") : 0
            try reader.expectEnd(of: "membership notice")
        } catch {
            throw .malformed(error.description)
        }
    }
}

/// A node that was told it was removed from a group asks the group's leader, over its own connection to the
/// leader's address, to confirm; the leader answers with a `MembershipNotice` carrying `nonce` only if its
/// committed configuration really leaves the node out.
///
///     version u8 = 1 | group u64 | nonce u64
public struct MembershipQuery: Hashable, Sendable {
    public var group: GroupID
    /// Random, and never 0: only the leader the query reached can echo it.
    public var nonce: UInt64

    public init(group: GroupID, nonce: UInt64) {
        self.group = group
        self.nonce = nonce
    }

    public var frame: Frame {
        var writer = ByteWriter(capacity: 17)
        writer.write(UInt8(1))
        writer.write(group.rawValue)
        writer.write(nonce)
        return Frame(kind: .membershipQuery, payload: writer.bytes)
    }

    public init(decoding frame: Frame) throws(WireError) {
        guard frame.kind == .membershipQuery else { throw .malformed("expected a membership query, got \(frame.kind)") }
        var reader = ByteReader(frame.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("membership query version")
            guard version == 1 else { throw .unsupportedVersion(what: "membership query", version: version) }
            group = GroupID(try reader.read(UInt64.self, "group"))
            nonce = try reader.read(UInt64.self, "nonce")
            guard nonce != 0 else { throw .invalid(field: "nonce", value: 0) }
            try reader.expectEnd(of: "membership query")
        } catch {
            throw .malformed(error.description)
        }
    }
}
