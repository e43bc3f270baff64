import QuorumConsensus
import QuorumStorage

/// Which cluster a data directory belongs to, and as which node. Written when the directory is first used and
/// checked on every start: a node restarted with another `--cluster` list or `--id` would otherwise found a
/// different cluster on the same data (it once made itself leader of a one-node cluster and acknowledged writes
/// the real cluster never saw).
///
///     quorum-cluster 1
///     cluster-id 5c1f0a93d2e4b781        (or "-": a joining node that has not yet heard from its cluster)
///     node 2
///     joined 0
///     groups 100                         (the groups it was founded with, --groups; absent: 1)
///     cluster-groups 100                 (a joining node: the groups its cluster was founded with, once heard)
///     consensus paxos                    (the engine, --consensus; absent: raft)
///     member 1 127.0.0.1:7101:7201       (the --cluster list the directory was created with)
public struct ClusterIdentity: Hashable, Sendable {
    /// Derived from the founding list, so the founders agree on it without talking; a joining node learns it
    /// from the first member that says hello.
    public var clusterID: UInt64?
    public var node: NodeID
    public var joined: Bool
    /// Groups 1...bootstrapGroups were founded with the node (a joining node founds only its part of group 1).
    public var bootstrapGroups: Int
    /// The groups the cluster was founded with, over which the Redis port spreads its hash slots: a founder's own
    /// `bootstrapGroups`; a joining node learns it with the cluster id, and until then it is nil.
    public var clusterGroups: Int?
    public var consensus: ConsensusKind
    public var members: [NodeID: MemberAddress]

    static let fileName = "CLUSTER"

    /// The identity a new data directory gets from the command line.
    public init(configuration: ServerConfiguration) {
        node = configuration.node
        joined = configuration.joining
        bootstrapGroups = configuration.joining ? 1 : configuration.bootstrapGroups ?? 1
        clusterGroups = configuration.joining ? nil : bootstrapGroups
        members = configuration.members
        consensus = configuration.consensus
        clusterID =
            configuration.joining ? nil : Self.derivedID(founding: configuration.members, consensus: consensus)
    }

    public var foundingVoters: Set<NodeID> {
        ServerConfiguration.foundingVoters(members: members, node: node, joining: joined)
    }

    /// FNV-1a over the canonical founding list and the engine: every founder computes the same id from the same
    /// list, and a cluster founded with other members, addresses or engine gets another, so that a node of one
    /// never takes another's messages. (Raft's ids predate the choice of engine and do not name it.)
    static func derivedID(founding members: [NodeID: MemberAddress], consensus: ConsensusKind = .raft) -> UInt64 {
        let hash = fnv1a(Self.listText(members) + (consensus == .raft ? "" : " consensus \(consensus.rawValue)"))
        return hash == 0 ? 1 : hash
    }

    private static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }

    /// The id of a cluster restored from `backup` with `members` as its founders (`ClusterRestore`): every member
    /// restored from the same file with the same list computes the same, and it is not the id the same list would
    /// found a cluster with, nor the backed-up cluster's.
    static func restoredID(founding members: [NodeID: MemberAddress], from backup: BackupFile) -> UInt64 {
        let hash = fnv1a("restored \(describe(backup.clusterID)) \(backup.takenAt) " + listText(members))
        return hash == 0 || hash == backup.clusterID || hash == derivedID(founding: members) ? hash &+ 1 : hash
    }

    static func listText(_ members: [NodeID: MemberAddress]) -> String {
        members.keys.sorted().map { "\($0.rawValue)=\(members[$0]!)" }.joined(separator: ",")
    }

    public static func describe(_ clusterID: UInt64?) -> String {
        guard let clusterID else { return "-" }
        let hex = String(clusterID, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Why `configuration` may not run on data of this identity, or nil if it may.
    public func contradiction(with configuration: ServerConfiguration) -> String? {
        if configuration.node != node {
            return "it holds the data of node \(node.rawValue), not of node \(configuration.node.rawValue) (--id)"
        }
        if configuration.joining != joined {
            return joined
                ? "node \(node.rawValue) joined its cluster with --join; restart it with --join"
                : "node \(node.rawValue) founded its cluster; restart it without --join"
        }
        if let groups = configuration.bootstrapGroups, groups != bootstrapGroups, !joined {
            return "it was founded with --groups \(bootstrapGroups), and this start gives --groups \(groups)"
        }
        if configuration.consensus != consensus {
            return "its cluster runs \(consensus.engineName) (--consensus \(consensus.rawValue)), and this start gives "
                + "--consensus \(configuration.consensus.rawValue); one engine cannot read the other's log"
        }
        if configuration.foundingVoters != foundingVoters {
            return "it was created with --cluster \(Self.listText(members)), and this start gives --cluster "
                + "\(Self.listText(configuration.members)); restart with the list it was created with (members added "
                + "since are known from the log)"
        }
        return nil
    }

    var encoded: [UInt8] {
        var lines = ["quorum-cluster 1", "cluster-id \(Self.describe(clusterID))", "node \(node.rawValue)"]
        lines.append("joined \(joined ? 1 : 0)")
        if bootstrapGroups != 1 { lines.append("groups \(bootstrapGroups)") }
        if joined, let clusterGroups { lines.append("cluster-groups \(clusterGroups)") }
        if consensus != .raft { lines.append("consensus \(consensus.rawValue)") }
        for member in members.keys.sorted() { lines.append("member \(member.rawValue) \(members[member]!)") }
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    init(parsing bytes: [UInt8]) throws(ConfigurationError) {
        var clusterID: UInt64??
        var node: NodeID?
        var joined: Bool?
        var bootstrapGroups = 1
        var clusterGroups: Int?
        var consensus = ConsensusKind.raft
        var members: [NodeID: MemberAddress] = [:]
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.first == "quorum-cluster 1" else {
            throw ConfigurationError("it does not start with quorum-cluster 1")
        }
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ")
            switch (fields.first, fields.count) {
            case ("cluster-id", 2):
                clusterID = fields[1] == "-" ? .some(nil) : UInt64(fields[1], radix: 16).map { .some($0) }
            case ("node", 2):
                node = UInt64(fields[1]).flatMap { $0 == 0 ? nil : NodeID($0) }
            case ("joined", 2):
                joined = fields[1] == "1" ? true : fields[1] == "0" ? false : nil
            case ("groups", 2):
                guard let count = Int(fields[1]), count >= 1 else {
                    throw ConfigurationError("unreadable line '\(line)'")
                }
                bootstrapGroups = count
            case ("cluster-groups", 2):
                guard let count = Int(fields[1]), count >= 1 else {
                    throw ConfigurationError("unreadable line '\(line)'")
                }
                clusterGroups = count
            case ("consensus", 2):
                guard let kind = ConsensusKind(rawValue: String(fields[1])) else {
                    throw ConfigurationError("unreadable line '\(line)'")
                }
                consensus = kind
            case ("member", 3):
                guard let id = UInt64(fields[1]), id > 0, let address = MemberAddress(parsing: fields[2]) else {
                    throw ConfigurationError("unreadable line '\(line)'")
                }
                members[NodeID(id)] = address
            default:
                throw ConfigurationError("unreadable line '\(line)'")
            }
        }
        guard let clusterID, let node, let joined, members[node] != nil else {
            throw ConfigurationError("it lacks its cluster id, node, joined flag or this node's member line")
        }
        self.clusterID = clusterID
        self.node = node
        self.joined = joined
        self.bootstrapGroups = bootstrapGroups
        self.clusterGroups = joined ? clusterGroups : bootstrapGroups
        self.consensus = consensus
        self.members = members
    }

    /// Reads the identity kept in `directory` and checks `configuration` against it; a directory without one gets
    /// the configuration's (a new node, or data of a build that kept none), and `created` says so. Throws with a
    /// message naming both.
    static func establish(
        in directory: DataDirectory, for configuration: ServerConfiguration
    ) throws -> (identity: ClusterIdentity, created: Bool) {
        guard let bytes = try directory.readMetadata(fileName) else {
            let identity = ClusterIdentity(configuration: configuration)
            try directory.writeMetadata(fileName, identity.encoded)
            return (identity, true)
        }
        let identity: ClusterIdentity
        do throws(ConfigurationError) {
            identity = try ClusterIdentity(parsing: bytes)
        } catch {
            throw ConfigurationError(
                "\(directory.path)/\(fileName) is damaged (\(error)); it names the cluster this data belongs to, so "
                    + "restore it from a backup of the directory rather than delete it")
        }
        if let contradiction = identity.contradiction(with: configuration) {
            throw ConfigurationError(
                "data directory \(configuration.dataDirectory) belongs to cluster \(describe(identity.clusterID)): "
                    + contradiction)
        }
        return (identity, false)
    }

    /// A joining node learned its cluster's id, and the groups it was founded with, from a member's hello.
    func adopting(clusterID: UInt64, clusterGroups: Int?, in directory: DataDirectory) throws -> ClusterIdentity {
        var adopted = self
        adopted.clusterID = clusterID
        adopted.clusterGroups = clusterGroups
        try directory.writeMetadata(Self.fileName, adopted.encoded)
        return adopted
    }
}

extension ConsensusKind {
    /// The engine's name in messages to operators.
    public var engineName: String {
        switch self {
        case .raft: "Raft"
        case .paxos: "Multi-Paxos"
        }
    }
}
