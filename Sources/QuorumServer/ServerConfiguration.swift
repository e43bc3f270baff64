import QuorumConsensus
import QuorumStorage

/// Where one member of the cluster listens.
public struct MemberAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var peerPort: Int
    public var clientPort: Int

    public init(host: String, peerPort: Int, clientPort: Int) {
        self.host = host
        self.peerPort = peerPort
        self.clientPort = clientPort
    }

    /// Parses `HOST:PEER_PORT:CLIENT_PORT`.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: ":")
        guard parts.count == 3, let peerPort = Int(parts[1]), let clientPort = Int(parts[2]),
            (1...65535).contains(peerPort), (1...65535).contains(clientPort)
        else { return nil }
        self.init(host: String(parts[0]), peerPort: peerPort, clientPort: clientPort)
    }

    public var clientAddress: String { "\(host):\(clientPort)" }
    public var description: String { "\(host):\(peerPort):\(clientPort)" }
}

/// How a node runs: who it is, who its peers are, where it keeps its data, and its timing.
public struct ServerConfiguration: Sendable {
    public var node: NodeID
    /// Every founding member, and this node: the cluster's initial configuration and where to reach it.
    public var members: [NodeID: MemberAddress]
    /// This node joins a running cluster (`quorum cluster add` names it there): it is not a founding voter, and
    /// learns the membership from the leader.
    public var joining = false
    public var dataDirectory: String
    /// How storage writes and syncs its files: the system's calls, or, in tests, a disk that fills up on demand.
    public var storageIO: any FileIO = PosixFileIO()
    /// Where the node's ports are bound, when not on the host its members reach it at (`members[node]`): `0.0.0.0`
    /// in a container or behind NAT, say, while the others reach it at the address the cluster list gives.
    public var listenHost: String?
    /// Mutual TLS between peers, with certificates naming each node (`PeerTLS`); nil: peers are unauthenticated.
    public var peerTLS: TLSFiles?
    /// TLS on the client, HTTP and Redis ports (`ClientTLS`); nil: they speak plain TCP.
    public var clientTLS: TLSFiles?
    /// The consensus engine of every group, chosen when the cluster is founded and kept with each member's data.
    public var consensus = ConsensusKind.raft
    /// One engine tick. Elections take 10–20 ticks, heartbeats go every tick.
    public var tickMilliseconds: Int64 = 50
    /// The leader compacts the store's history to keep this many revisions (etcd's revision-based
    /// auto-compaction): memory, snapshots and catch-up stay bounded under a steady write load. 0 keeps all.
    public var historyRevisionsRetained: UInt64 = 100_000
    /// Writes whose encoded request is larger are refused before they reach the log (etcd's default limit).
    /// A node-local API limit: the store's own limits, the same on every replica, stay the hard cap.
    public var requestBytesMax = 1_572_864
    /// The engine asks for a snapshot after this many applied entries; it keeps as many after each (at most
    /// 5,000) so that a briefly lagging follower catches up from the log (etcd's defaults).
    public var snapshotIntervalEntries = 100_000
    /// Peer frames above this size are refused; a larger message (a snapshot, mostly) travels in parts that fit
    /// (`FrameParts`), so this bounds what one read may allocate, not how large the state may be.
    public var peerFrameBytesMax = 16 << 20
    /// The largest message assembled from parts; peers are trusted members, so this is a bound on memory rather
    /// than a defence (etcd's largest recommended database is 8 GiB).
    public var peerMessageBytesMax = 8 << 30
    /// Client frames above this size are refused (etcd's request limit is 1.5 MiB; entries batch several).
    public var frameBytesMax = 16 << 20
    /// A new data directory founds groups 1...bootstrapGroups on every founding member (`--groups`); nil: as the
    /// directory was founded (one group for a new one).
    public var bootstrapGroups: Int?
    /// The most groups a cluster may be founded with.
    public static let bootstrapGroupsMax = 100_000
    /// A span of a range-sharded keyspace holding more keys than this is split in two, and neighbouring spans
    /// holding at most a quarter of it together merge (`--split-keys`); nil: spans split and merge only when an
    /// operator says so.
    public var splitKeysMax: Int?
    /// A span of a range-sharded keyspace whose group's leader serves it more requests a second than this is split
    /// where its requests' keys divide in halves (`--split-load`); nil: spans are not split by load.
    public var splitLoadMax: Int?
    /// Connections the client port, and the Redis port, each keep open at most (`--max-connections`, Redis's
    /// `maxclients`); more are refused.
    public var connectionsMax = 10_000
    /// Watches one group's replica on this node serves at most (`--max-watches`); more are refused with the reason.
    public var watchesMax = 100_000
    /// Watches one connection may hold in one group's replica on this node, so that one client cannot take the
    /// whole of `watchesMax`.
    public var watchesPerConnectionMax = 1_000
    /// A Redis connection that sends nothing for this long is closed (`--redis-idle-timeout`, Redis's `timeout`);
    /// nil keeps idle connections open, as Redis does by default.
    public var redisIdleTimeout: Duration?
    /// A Lua script running longer than this makes new scripts answer BUSY until it ends or SCRIPT KILL stops it
    /// (`--busy-reply-threshold`, Redis's setting of that name, in milliseconds).
    public var scriptBusyThreshold: Duration = .seconds(5)
    /// A Lua script running more instructions than this is stopped and writes nothing (docs/redis.md).
    public var scriptInstructionsMax = 1_000_000_000
    /// With a value, the node runs the placement driver while it leads group 1 (`PlacementLoop`), and replaces the
    /// replicas of a node that stayed unreachable this long; nil: replicas stay where they are.
    public var placementDeadAfter: Duration?
    /// Peer connections that have not said an accepted hello yet, at once; more are refused. Members past their hello
    /// do not count.
    public var peerStrangersMax = 256
    /// A peer connection that has said no accepted hello by then is closed.
    public var peerHelloTimeout: Duration = .seconds(10)
    /// Bytes of client-port requests that have begun to arrive and not finished, across all connections; a request
    /// that would pass it closes its connection.
    public var unfinishedRequestBytesMax = 256 << 20
    /// How long a token from authenticating stays valid on the node that issued it (etcd's --auth-token-ttl).
    public var authTokenTTL: Duration = .seconds(300)
    /// bcrypt's cost (log2 of its rounds) for new passwords; etcd's default is 10 (about 60 ms a check here).
    public var bcryptCost: UInt8 = 10
    public static let bcryptCosts: ClosedRange<UInt8> = 4...31
    /// The port of the HTTP/JSON API (docs/http.md) on this member's host; nil serves none.
    public var httpPort: Int?
    /// The port of the Redis-compatible protocol (docs/redis.md) on this member's host; nil serves none.
    public var redisPort: Int?

    public init(node: NodeID, members: [NodeID: MemberAddress], dataDirectory: String) {
        self.node = node
        self.members = members
        self.dataDirectory = dataDirectory
    }

    public var address: MemberAddress { members[node]! }

    /// The founding voters: everyone listed, except this node when it joins later.
    public var foundingVoters: Set<NodeID> { Self.foundingVoters(members: members, node: node, joining: joining) }

    static func foundingVoters(members: [NodeID: MemberAddress], node: NodeID, joining: Bool) -> Set<NodeID> {
        Set(members.keys).subtracting(joining ? [node] : [])
    }

    /// Parses `1=127.0.0.1:7101:7201,2=...`: each member's id, host, peer port and client port.
    public static func parseMembers(_ text: String) throws(ConfigurationError) -> [NodeID: MemberAddress] {
        var members: [NodeID: MemberAddress] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let id = UInt64(parts[0]), id > 0 else {
                throw ConfigurationError("'\(item)' is not ID=HOST:PEER_PORT:CLIENT_PORT (ids start at 1)")
            }
            guard let address = MemberAddress(parsing: parts[1]) else {
                throw ConfigurationError("'\(parts[1])' is not HOST:PEER_PORT:CLIENT_PORT with ports 1–65535")
            }
            guard members[NodeID(id)] == nil else { throw ConfigurationError("member \(id) is listed twice") }
            members[NodeID(id)] = address
        }
        guard !members.isEmpty else { throw ConfigurationError("the cluster needs at least one member") }
        return members
    }
}

public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
