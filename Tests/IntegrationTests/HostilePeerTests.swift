import Foundation
import NIOCore
import NIOPosix
import QuorumClient
import QuorumConsensus
import QuorumWire
import Testing

@testable import QuorumServer

/// What a stranger on the peer port can do to a real cluster. Each case was once fatal: one heartbeat with a term of
/// 2^64-1 crashed all three nodes within a second, and again on every restart.
extension ClusterTests {
    /// A raw connection to a node's peer port that sends whatever frames it is given.
    struct ForgedPeer {
        let channel: any Channel

        static func connect(to port: Int, group: any EventLoopGroup) async throws -> ForgedPeer {
            let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
            return ForgedPeer(channel: channel)
        }

        func send(_ frames: [Frame]) async throws {
            var buffer = channel.allocator.buffer(capacity: 256)
            for frame in frames { buffer.writeBytes(frame.encoded) }
            try await channel.writeAndFlush(buffer).get()
        }
    }

    /// One scrape of `member`'s metrics: the value of the sample `name{node="id"}`, 0 if absent.
    static func sample(_ name: String, of member: ClusterProcesses.Member, http: HTTPClient) async throws -> Double {
        let answer = try await http.send("GET", member, "/metrics")
        let prefix = #"\#(name){node="\#(member.id)"} "#
        let line = answer.text.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Double($0.dropFirst(prefix.count)) } ?? 0
    }

    @Test("forged messages with terms and indexes out of range are refused and counted; nothing crashes, no election")
    func forgedTermsEndNothing() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let http = HTTPClient()
        let leaderID = try await Self.awaitLeader(client, cluster)
        try await client.put(Array("before".utf8), Array("1".utf8))
        let leader = cluster.members[leaderID - 1]
        let termBefore = try await client.status(of: leader.clientEndpoint).term
        let clusterID = ClusterIdentity.derivedID(
            founding: try ServerConfiguration.parseMembers(cluster.clusterArgument))

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        for follower in cluster.members where follower.id != leaderID {
            let from = NodeID(UInt64(leaderID))
            let to = NodeID(UInt64(follower.id))
            let forged: [Message] = [
                Message(
                    from: from, to: to, term: Term(UInt64.max), payload: .heartbeat(commitIndex: 0, readContext: 0)),
                Message(from: from, to: to, term: Term(Term.ceiling.rawValue + 5), payload: .timeoutNow),
                Message(
                    from: from, to: to, term: termBefore,
                    payload: .appendEntries(
                        AppendEntries(
                            previousIndex: LogIndex(UInt64(Int.max)), previousTerm: termBefore, entries: [],
                            leaderCommit: LogIndex(UInt64(Int.max))))),
            ]
            let peer = try await ForgedPeer.connect(to: follower.peerPort, group: group)
            try await peer.send(
                [
                    PeerHello(node: from, clusterID: clusterID).frame,
                    PeerMessages(group: GroupID(1), messages: forged).frame,
                ])
            let refused = try await Self.poll {
                try await Self.sample("quorum_network_peer_messages_refused_total", of: follower, http: http) >= 3
            }
            #expect(refused, "node \(follower.id) did not count the forged messages as refused")
            try await peer.channel.close()
        }
        try await group.shutdownGracefully()

        // Every node is up, the leader still leads in the same term, and the cluster serves.
        for member in cluster.members {
            #expect(cluster.members[member.id - 1].process?.isRunning == true, "node \(member.id) ended")
        }
        let after = try await client.status(of: leader.clientEndpoint)
        #expect(after.role == "leader" && after.term == termBefore, "the forged terms caused an election: \(after)")
        try await client.put(Array("after".utf8), Array("2".utf8))
        #expect(try await client.get(Array("before".utf8))?.value == Array("1".utf8))
        await client.close()
    }

    @Test("a hello from another cluster, from a stranger, or a frame before any hello closes the connection")
    func strangersRefusedAtHello() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let http = HTTPClient()
        let target = cluster.members[0]
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let attempts: [(String, [Frame])] = [
            ("a hello from another cluster", [PeerHello(node: 2, clusterID: 0xBAD).frame]),
            ("a hello from a node that is no member", [PeerHello(node: 99).frame]),
            ("a hello claiming the node's own id", [PeerHello(node: 1).frame]),
            ("a frame part before any hello", [Frame(kind: .part, payload: Array(repeating: 7, count: 64))]),
        ]
        for (name, frames) in attempts {
            let peer = try await ForgedPeer.connect(to: target.peerPort, group: group)
            try await peer.send(frames)
            #expect(try await Patience.peerCloses(peer.channel, within: 20), "\(name) was not refused")
        }
        try await group.shutdownGracefully()
        #expect(try await Self.sample("quorum_network_peer_hellos_refused_total", of: target, http: http) == 3)
        // The real members' connections were never disturbed.
        try await client.put(Array("k".utf8), Array("v".utf8))
        await client.close()
    }

    @Test("messages for a group the node does not host are dropped and counted, and never create it")
    func unknownGroupsCreateNothing() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let http = HTTPClient()
        let leaderID = try await Self.awaitLeader(client, cluster)
        let follower = try #require(cluster.members.first { $0.id != leaderID })
        let from = NodeID(UInt64(leaderID))
        let to = NodeID(UInt64(follower.id))
        let clusterID = ClusterIdentity.derivedID(
            founding: try ServerConfiguration.parseMembers(cluster.clusterArgument))
        let heartbeats = (0..<3).map { _ in
            Message(from: from, to: to, term: 1, payload: .heartbeat(commitIndex: 0, readContext: 0))
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let peer = try await ForgedPeer.connect(to: follower.peerPort, group: group)
        try await peer.send([
            PeerHello(node: from, clusterID: clusterID).frame,
            PeerMessages(groups: [.init(group: GroupID(7), messages: heartbeats)]).frame,
        ])
        #expect(
            try await Self.poll {
                try await Self.sample("quorum_network_peer_messages_unrouted_total", of: follower, http: http) >= 3
            })
        try await peer.channel.close()
        try await group.shutdownGracefully()
        #expect(try await client.groups(of: follower.clientEndpoint).map(\.group) == [GroupID(1)])
        await client.close()
    }

    @Test(
        "forged removal notices stop no node: each asks the claimed leader at its own address, which does not confirm")
    func forgedRemovalNoticesStopNothing() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let http = HTTPClient()
        let clusterID = ClusterIdentity.derivedID(
            founding: try ServerConfiguration.parseMembers(cluster.clusterArgument))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Every node is told, by someone claiming to be another member, that it was removed.
        for target in cluster.members {
            let claimed = cluster.members[target.id % cluster.members.count]
            let notice = MembershipNotice(
                group: 1, removed: NodeID(UInt64(target.id)), leader: NodeID(UInt64(claimed.id)), term: 1_000,
                configurationIndex: 1)
            let peer = try await ForgedPeer.connect(to: target.peerPort, group: group)
            try await peer.send([PeerHello(node: NodeID(UInt64(claimed.id)), clusterID: clusterID).frame, notice.frame])
        }
        // Each node asked the claimed leader, which answered nothing: none of them is removed.
        let asked = try await Self.poll {
            var queries = 0.0
            for member in cluster.members {
                queries += try await Self.sample("quorum_network_membership_queries_total", of: member, http: http)
            }
            return queries >= 3
        }
        #expect(asked, "the forged notices were not put to the claimed leaders")
        try await group.shutdownGracefully()
        for member in cluster.members {
            #expect(cluster.members[member.id - 1].process?.isRunning == true, "node \(member.id) stopped")
            let status = try await client.status(of: member.clientEndpoint)
            #expect(status.voters.count == 3)
        }
        try await client.put(Array("after".utf8), Array("forgery".utf8))
        await client.close()
    }

    @Test("a data directory remembers its cluster and node: a contradicting --cluster or --id is refused, naming both")
    func dataDirectoryRemembersItsCluster() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        try await client.put(Array("kept".utf8), Array("1".utf8))
        let leader = try await Self.awaitLeader(client, cluster)
        let restarted = leader == 3 ? 2 : 3
        cluster.kill(restarted)

        let member = cluster.members[restarted - 1]
        let alone = "\(restarted)=127.0.0.1:\(member.peerPort):\(member.clientPort)"
        try cluster.start(restarted, clusterArgument: alone)
        let lonely = try #require(try await cluster.awaitExit(restarted), "a one-member list was accepted")
        #expect(lonely.status == 2)
        #expect(lonely.log.contains("it was created with --cluster \(cluster.clusterArgument)"), "\(lonely.log)")
        #expect(lonely.log.contains("this start gives --cluster \(alone)"))

        try cluster.start(restarted, asNode: leader)
        let renamed = try #require(try await cluster.awaitExit(restarted), "another --id was accepted")
        #expect(renamed.status == 2)
        #expect(renamed.log.contains("it holds the data of node \(restarted)"), "\(renamed.log)")

        // Started as it was created, it rejoins with its data.
        try cluster.start(restarted)
        let direct = QuorumClient(endpoints: [member.clientEndpoint])
        #expect(try await Self.poll { (try? await direct.get(Array("kept".utf8), linearizable: false))??.value != nil })
        await direct.close()
        await client.close()
    }
}

@Suite("Cluster identity")
struct ClusterIdentityTests {
    static let members = try! ServerConfiguration.parseMembers("1=127.0.0.1:7101:7201,2=127.0.0.1:7102:7202")

    @Test("an identity survives its file; a damaged file is refused")
    func encoding() throws {
        var configuration = ServerConfiguration(node: 2, members: Self.members, dataDirectory: "/tmp/x")
        let founder = ClusterIdentity(configuration: configuration)
        #expect(founder.clusterID == ClusterIdentity.derivedID(founding: Self.members))
        #expect(try ClusterIdentity(parsing: founder.encoded) == founder)
        configuration.joining = true
        let joiner = ClusterIdentity(configuration: configuration)
        #expect(joiner.clusterID == nil && joiner.foundingVoters == [1])
        #expect(try ClusterIdentity(parsing: joiner.encoded) == joiner)
        for damaged in ["", "quorum-cluster 2\n", String(decoding: founder.encoded.dropLast(30), as: UTF8.self)] {
            #expect(throws: ConfigurationError.self) { try ClusterIdentity(parsing: Array(damaged.utf8)) }
        }
    }

    @Test("founders of one list share an id; another list or another address gives another")
    func derivedIDs() throws {
        let same = try ServerConfiguration.parseMembers("2=127.0.0.1:7102:7202,1=127.0.0.1:7101:7201")
        let moved = try ServerConfiguration.parseMembers("1=127.0.0.1:7101:7201,2=127.0.0.1:7102:7203")
        #expect(ClusterIdentity.derivedID(founding: same) == ClusterIdentity.derivedID(founding: Self.members))
        #expect(ClusterIdentity.derivedID(founding: moved) != ClusterIdentity.derivedID(founding: Self.members))
    }

    @Test("another node id, another founding list or another --join contradicts the identity")
    func contradictions() throws {
        let identity = ClusterIdentity(
            configuration: ServerConfiguration(node: 2, members: Self.members, dataDirectory: "/d"))
        #expect(
            identity.contradiction(with: ServerConfiguration(node: 2, members: Self.members, dataDirectory: "/d"))
                == nil)
        #expect(
            identity.contradiction(with: ServerConfiguration(node: 1, members: Self.members, dataDirectory: "/d"))?
                .contains("data of node 2, not of node 1") == true)
        let grown = try ServerConfiguration.parseMembers("1=127.0.0.1:7101:7201,2=127.0.0.1:7102:7202,3=h:1:2")
        #expect(
            identity.contradiction(with: ServerConfiguration(node: 2, members: grown, dataDirectory: "/d"))?
                .contains("this start gives --cluster") == true)
        var joining = ServerConfiguration(node: 2, members: Self.members, dataDirectory: "/d")
        joining.joining = true
        #expect(identity.contradiction(with: joining)?.contains("without --join") == true)
    }

    @Test("the engine is part of the identity: kept in its file, in the cluster id, and a restart must give the same")
    func consensusEngine() throws {
        var paxos = ServerConfiguration(node: 2, members: Self.members, dataDirectory: "/d")
        paxos.consensus = .paxos
        let identity = ClusterIdentity(configuration: paxos)
        #expect(try ClusterIdentity(parsing: identity.encoded).consensus == .paxos)
        // Same founders, other engine: another cluster, so their nodes refuse each other's hellos.
        #expect(identity.clusterID != ClusterIdentity.derivedID(founding: Self.members))
        #expect(identity.contradiction(with: paxos) == nil)
        let raft = ServerConfiguration(node: 2, members: Self.members, dataDirectory: "/d")
        #expect(
            identity.contradiction(with: raft)
                == "its cluster runs Multi-Paxos (--consensus paxos), and this start gives --consensus raft; one "
                + "engine cannot read the other's log")
        #expect(ClusterIdentity(configuration: raft).contradiction(with: paxos)?.contains("runs Raft") == true)
    }
}
