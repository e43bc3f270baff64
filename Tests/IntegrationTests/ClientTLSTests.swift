import Foundation
import QuorumClient
import QuorumWire
import Testing

/// TLS on the client, HTTP and Redis ports (`--tls-cert`, `--tls-key`; docs/security.md) on real processes: the Swift
/// client, the command line, redis-cli and curl get through with the authority's certificate; a client that speaks
/// plain TCP or trusts another authority does not; and a node's certificate is replaced without a restart.
extension ClusterTests {
    @Test(
        "client TLS: the Swift client, the CLI, redis-cli and curl get through; plain TCP and a stranger's authority do not; certificates reload",
        .enabled(if: opensslInstalled, "openssl not found: apt-get install openssl"),
        .enabled(if: RedisTools.cli != nil, "redis-cli not found: apt-get install redis-tools"),
        .enabled(if: RedisTools.find("curl") != nil, "curl not found: apt-get install curl"))
    func clientTLS() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        let certificates = cluster.directory.appendingPathComponent("certificates")
        let other = cluster.directory.appendingPathComponent("other-authority")
        try await Self.peerCertificates(in: certificates, nodes: [1, 2, 3], serverNames: "IP:127.0.0.1")
        try await Self.peerCertificates(in: other, nodes: [1, 2, 3], serverNames: "IP:127.0.0.1")
        // Node 1 reads its certificate from files that are replaced later on.
        for suffix in ["pem", "key"] {
            try FileManager.default.copyItem(
                at: certificates.appendingPathComponent("node-1.\(suffix)"),
                to: certificates.appendingPathComponent("node-1-client.\(suffix)"))
        }
        for member in cluster.members {
            let name = member.id == 1 ? "node-1-client" : "node-\(member.id)"
            cluster.memberArguments[member.id] = [
                "--tls-cert", certificates.appendingPathComponent("\(name).pem").path,
                "--tls-key", certificates.appendingPathComponent("\(name).key").path,
            ]
        }
        try cluster.startAll()
        let authority = certificates.appendingPathComponent("ca.pem").path
        let client = QuorumClient(
            endpoints: cluster.clientEndpoints, timeout: .seconds(10),
            tls: try QuorumClientTLS(certificateAuthorityFile: authority))
        let leaderID = try await Self.awaitLeader(client, cluster)
        try await client.put(Array("secret".utf8), Array("over-tls".utf8))
        #expect(try await client.get(Array("secret".utf8))?.value == Array("over-tls".utf8))

        // Plain TCP, and TLS trusting another authority, get nowhere.
        let plain = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(2))
        await #expect(throws: QuorumClientError.self) {
            _ = try await plain.status(of: cluster.members[0].clientEndpoint)
        }
        await plain.close()
        let stranger = QuorumClient(
            endpoints: cluster.clientEndpoints, timeout: .seconds(2),
            tls: try QuorumClientTLS(certificateAuthorityFile: other.appendingPathComponent("ca.pem").path))
        do {
            _ = try await stranger.status(of: cluster.members[0].clientEndpoint)
            Issue.record("a client trusting another authority was served")
        } catch {
            #expect("\(error)".contains("TLS handshake failed"), "\(error)")
        }
        await stranger.close()

        // The command line, redis-cli and curl, each trusting the authority.
        let leader = cluster.members[leaderID - 1]
        let endpoints = cluster.clientEndpoints.joined(separator: ",")
        let get = try await cluster.runCommand(["get", "secret", "--endpoints", endpoints, "--tls-ca", authority])
        #expect(get.status == 0 && get.output == "over-tls\n", "quorum get over TLS: \(get)")
        let refused = try await cluster.runCommand(["get", "secret", "--endpoints", endpoints, "--timeout", "2"])
        #expect(refused.status != 0, "quorum get without --tls-ca was answered")
        let redisPort = try #require(leader.redisPort)
        let cli = try #require(RedisTools.cli)
        let viaRedis = try await RedisTools.run(
            cli, ["--tls", "--cacert", authority, "-h", "127.0.0.1", "-p", "\(redisPort)", "GET", "secret"])
        #expect(viaRedis.output.hasPrefix("over-tls"), "redis-cli over TLS: \(viaRedis.output)")
        let plainRedis = try await RedisTools.run(cli, ["-h", "127.0.0.1", "-p", "\(redisPort)", "GET", "secret"])
        #expect(!plainRedis.output.contains("over-tls"), "redis-cli without TLS was answered")
        let curl = try await RedisTools.run(
            try #require(RedisTools.find("curl")),
            ["-s", "--cacert", authority, "https://127.0.0.1:\(leader.httpPort)/v1/kv/secret"])
        #expect(
            curl.output.contains("over-tls") || curl.output.contains("b3Zlci10bHM"), "curl over TLS: \(curl.output)")

        // Node 1's client certificate is replaced by one from the other authority: new connections get it at once,
        // without a restart, on the client port and the Redis port alike.
        for suffix in ["key", "pem"] {
            try Data(contentsOf: other.appendingPathComponent("node-1.\(suffix)"))
                .write(to: certificates.appendingPathComponent("node-1-client.\(suffix)"), options: .atomic)
        }
        let otherAuthority = other.appendingPathComponent("ca.pem").path
        let renewed = QuorumClient(
            endpoints: [cluster.members[0].clientEndpoint], timeout: .seconds(5),
            tls: try QuorumClientTLS(certificateAuthorityFile: otherAuthority))
        let status = try await renewed.status(of: cluster.members[0].clientEndpoint)
        #expect(status.node.rawValue == 1)
        await renewed.close()
        let renewedRedis = try await RedisTools.run(
            cli,
            [
                "--tls", "--cacert", otherAuthority, "-h", "127.0.0.1", "-p",
                "\(try #require(cluster.members[0].redisPort))", "PING",
            ])
        #expect(
            renewedRedis.output.hasPrefix("PONG"), "redis-cli after the certificate changed: \(renewedRedis.output)")
        await client.close()
    }

    @Test(
        "client TLS: a node whose certificate has expired is refused by the Swift client and by redis-cli",
        .enabled(if: opensslInstalled, "openssl not found: apt-get install openssl"),
        .enabled(if: RedisTools.cli != nil, "redis-cli not found: apt-get install redis-tools"))
    func expiredClientCertificate() async throws {
        let cluster = try ClusterProcesses(size: 1)
        defer { cluster.stopAll() }
        let certificates = cluster.directory.appendingPathComponent("certificates")
        try await Self.peerCertificates(
            in: certificates, nodes: [1], serverNames: "IP:127.0.0.1", dates: ("20200101000000Z", "20200102000000Z"))
        cluster.memberArguments[1] = [
            "--tls-cert", certificates.appendingPathComponent("node-1.pem").path,
            "--tls-key", certificates.appendingPathComponent("node-1.key").path,
        ]
        try cluster.startAll()
        // It serves with the certificate it was given: the clients are the ones to refuse it.
        #expect(try await Self.poll { cluster.output(of: 1).contains("serving Redis") })
        let authority = certificates.appendingPathComponent("ca.pem").path
        let client = QuorumClient(
            endpoints: cluster.clientEndpoints, timeout: .seconds(3),
            tls: try QuorumClientTLS(certificateAuthorityFile: authority))
        do {
            _ = try await client.status(of: cluster.members[0].clientEndpoint)
            Issue.record("a node with an expired certificate was trusted")
        } catch {
            #expect("\(error)".contains("TLS handshake failed"), "\(error)")
        }
        await client.close()
        let redis = try await RedisTools.run(
            try #require(RedisTools.cli),
            ["--tls", "--cacert", authority, "-h", "127.0.0.1", "-p", "\(try #require(cluster.members[0].redisPort))", "PING"])
        #expect(!redis.output.hasPrefix("PONG"), "redis-cli trusted an expired certificate: \(redis.output)")
    }
}
