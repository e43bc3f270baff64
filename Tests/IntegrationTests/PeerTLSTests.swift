import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import QuorumClient
import QuorumConsensus
import QuorumWire
import Testing

@testable import QuorumServer

/// Mutual TLS between peers (`--peer-cert`, `--peer-key`, `--peer-ca`; docs/security.md) on real processes: the
/// cluster forms and serves over it; a stranger without a certificate, with another authority's, with a member's
/// certificate but another member's id, or a non-member with a valid certificate gets nowhere and disturbs nothing;
/// and a node's certificate is replaced without a restart.
extension ClusterTests {
    /// A certificate authority and certificates for `nodes`, made by scripts/peer-certificates.sh.
    /// `serverNames` adds names the certificates serve clients by (`SERVER_NAMES`).
    /// - Parameter dates: NOT_BEFORE and NOT_AFTER for the script (YYYYMMDDHHMMSSZ), to make expired certificates.
    static func peerCertificates(
        in directory: URL, nodes: [Int], serverNames: String = "", dates: (String, String)? = nil
    ) async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/peer-certificates.sh")
        let dated = dates.map { ["NOT_BEFORE=\($0.0)", "NOT_AFTER=\($0.1)"] } ?? []
        let run = try await RedisTools.run(
            "/usr/bin/env",
            ["SERVER_NAMES=\(serverNames)"] + dated + ["bash", script.path, directory.path] + nodes.map(String.init))
        guard run.status == 0 else { throw CertificatesNotMade(output: run.output) }
    }

    struct CertificatesNotMade: Error { var output: String }

    static let opensslInstalled = RedisTools.find("openssl") != nil

    /// The flags that give member `node` the certificate `certificate` of `directory`.
    static func peerTLSArguments(_ directory: URL, certificate: String) -> [String] {
        [
            "--peer-cert", directory.appendingPathComponent("\(certificate).pem").path,
            "--peer-key", directory.appendingPathComponent("\(certificate).key").path,
            "--peer-ca", directory.appendingPathComponent("ca.pem").path,
        ]
    }

    /// A TLS connection to a peer port that presents `certificate` of `directory` and expects the server to be
    /// `server`.
    static func tlsPeer(
        to port: Int, server: NodeID, presenting certificate: String, of directory: URL, group: any EventLoopGroup
    ) async throws -> ForgedPeer {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(
            directory.appendingPathComponent("\(certificate).pem").path
        ).map { .certificate($0) }
        configuration.privateKey = .privateKey(
            try NIOSSLPrivateKey(file: directory.appendingPathComponent("\(certificate).key").path, format: .pem))
        // The stranger does not care who answers; the server's check of the stranger is under test.
        configuration.certificateVerification = .none
        let context = try NIOSSLContext(configuration: configuration)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: PeerTLS.name(of: server)))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return ForgedPeer(channel: channel)
    }

    @Test(
        "peer TLS: the cluster serves over it; no certificate, another authority's, another member's, or a non-member's gets nowhere, and no election follows",
        .enabled(if: opensslInstalled, "openssl not found: apt-get install openssl"))
    func peerTLSRefusesStrangers() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        let certificates = cluster.directory.appendingPathComponent("certificates")
        let strangers = cluster.directory.appendingPathComponent("other-authority")
        try await Self.peerCertificates(in: certificates, nodes: [1, 2, 3, 9])
        try await Self.peerCertificates(in: strangers, nodes: [1, 2, 3])
        for member in cluster.members {
            cluster.memberArguments[member.id] = Self.peerTLSArguments(certificates, certificate: "node-\(member.id)")
        }
        try cluster.startAll()
        let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        let leaderID = try await Self.awaitLeader(client, cluster)
        try await client.put(Array("over-tls".utf8), Array("1".utf8))
        let leader = cluster.members[leaderID - 1]
        let termBefore = try await client.status(of: leader.clientEndpoint).term
        let target = cluster.members.first { $0.id != leaderID }!
        let bystander = cluster.members.first { $0.id != leaderID && $0.id != target.id }!
        let impersonated = NodeID(UInt64(leaderID))
        let forgedHeartbeat = PeerMessages(
            group: GroupID(1),
            messages: [
                Message(
                    from: impersonated, to: NodeID(UInt64(target.id)), term: Term(termBefore.rawValue + 100),
                    payload: .heartbeat(commitIndex: 0, readContext: 0))
            ]
        ).frame
        let hello = PeerHello(node: impersonated).frame

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let http = HTTPClient()
        let refusedBefore = try await Self.sample("quorum_network_peer_hellos_refused_total", of: target, http: http)
        // No TLS at all: the bytes are not a handshake.
        let plain = try await ForgedPeer.connect(to: target.peerPort, group: group)
        try? await plain.send([hello, forgedHeartbeat])
        try await Self.expectClosed(plain, "a peer without TLS")
        // Another authority's certificate for the impersonated node: the handshake fails.
        let foreign = try await Self.tlsPeer(
            to: target.peerPort, server: NodeID(UInt64(target.id)), presenting: "node-\(leaderID)", of: strangers,
            group: group)
        try? await foreign.send([hello, forgedHeartbeat])
        try await Self.expectClosed(foreign, "a certificate of another authority")
        // A member's real certificate, but a hello as another member.
        let impostor = try await Self.tlsPeer(
            to: target.peerPort, server: NodeID(UInt64(target.id)), presenting: "node-\(bystander.id)",
            of: certificates, group: group)
        try? await impostor.send([hello, forgedHeartbeat])
        try await Self.expectClosed(impostor, "a certificate naming another member")
        // A valid certificate of a node that is no member.
        let outsider = try await Self.tlsPeer(
            to: target.peerPort, server: NodeID(UInt64(target.id)), presenting: "node-9", of: certificates, group: group
        )
        try? await outsider.send([PeerHello(node: NodeID(9)).frame, forgedHeartbeat])
        try await Self.expectClosed(outsider, "a non-member's certificate")
        try await group.shutdownGracefully()
        let refused = try await Self.sample("quorum_network_peer_hellos_refused_total", of: target, http: http)
        #expect(refused - refusedBefore >= 2, "the impostor's and the outsider's hellos were not counted as refused")

        // The forged heartbeats reached no engine: same leader, same term, and the cluster serves.
        #expect(try await client.status(of: leader.clientEndpoint).term == termBefore)
        #expect(try await client.status(of: leader.clientEndpoint).role == "leader")
        try await client.put(Array("still-serving".utf8), Array("1".utf8))
        #expect(try await client.get(Array("over-tls".utf8))?.value == Array("1".utf8))
        #expect(!cluster.output(of: leaderID).contains("peers are unauthenticated"), "a node with peer TLS warned")
        await client.close()
    }

    @Test(
        "peer TLS: a node whose certificate names another node is shut out, and joins once its files are replaced, without a restart",
        .enabled(if: opensslInstalled, "openssl not found: apt-get install openssl"))
    func peerCertificatesReloadWithoutRestart() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        let certificates = cluster.directory.appendingPathComponent("certificates")
        try await Self.peerCertificates(in: certificates, nodes: [1, 2, 3, 9])
        // Node 3 reads its certificate from files of its own, which hold node 9's at first.
        let files = FileManager.default
        for suffix in ["pem", "key"] {
            try files.copyItem(
                at: certificates.appendingPathComponent("node-9.\(suffix)"),
                to: certificates.appendingPathComponent("node-3-current.\(suffix)"))
        }
        cluster.memberArguments[1] = Self.peerTLSArguments(certificates, certificate: "node-1")
        cluster.memberArguments[2] = Self.peerTLSArguments(certificates, certificate: "node-2")
        cluster.memberArguments[3] = Self.peerTLSArguments(certificates, certificate: "node-3-current")
        try cluster.startAll()
        let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        let leaderID = try await Self.awaitLeader(client, cluster)
        #expect(leaderID != 3, "node 3 cannot have been elected: no one accepts its certificate")
        try await client.put(Array("written-without-3".utf8), Array("1".utf8))
        let written = try await client.status(of: cluster.members[leaderID - 1].clientEndpoint).commitIndex
        // Node 3's hellos, over a certificate naming node 9, are refused; it hears nothing of the cluster.
        let http = HTTPClient()
        let refusedHello = try await Self.poll {
            try await Self.sample(
                "quorum_network_peer_hellos_refused_total", of: cluster.members[leaderID - 1], http: http)
                >= 1
        }
        #expect(refusedHello, "the leader never refused node 3's hello")
        let shutOut = try await client.status(of: cluster.members[2].clientEndpoint)
        #expect(shutOut.commitIndex < written, "node 3 heard the cluster with a certificate naming node 9")
        #expect(shutOut.leader == nil, "node 3 knows a leader though no one accepts its certificate")

        // The right certificate replaces the wrong one in place: key first, then the certificate, as an operator's
        // tool might; a half-replaced pair is not loaded.
        for suffix in ["key", "pem"] {
            let replacement = try Data(contentsOf: certificates.appendingPathComponent("node-3.\(suffix)"))
            try replacement.write(to: certificates.appendingPathComponent("node-3-current.\(suffix)"), options: .atomic)
        }
        let caughtUp = try await Self.poll {
            let status = try? await client.status(of: cluster.members[2].clientEndpoint)
            return (status?.appliedIndex ?? 0) >= written && status?.leader == NodeID(UInt64(leaderID))
        }
        #expect(caughtUp, "node 3 did not join after its certificate was replaced")
        await client.close()
    }

    /// Waits until the node has closed `peer`'s connection.
    static func expectClosed(_ peer: ForgedPeer, _ what: String) async throws {
        let closed = try await Patience.peerCloses(peer.channel, within: 10)
        #expect(closed, "the node kept a connection from \(what) open")
    }
}
