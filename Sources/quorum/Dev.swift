import ArgumentParser
import Foundation
import Logging
import QuorumConsensus
import QuorumServer

/// A three-node cluster in one process on 127.0.0.1: the quickest way to try Quorum.
struct Dev: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Run a 3-node cluster in this process on 127.0.0.1 (clients on ports 7201–7203, HTTP on 7301–7303, \
            Redis on 7211–7213).
            """)

    @Option(help: "Where the three nodes keep their data (one subdirectory each).")
    var dataDir = "quorum-data"

    @Option(
        help: """
            The first of three consecutive peer ports; client ports are 100 above, HTTP ports 200 above, Redis \
            ports 110 above.
            """)
    var basePort = 7101

    @Option(help: ConsensusKind.help)
    var consensus = ConsensusKind.raft

    @Option(help: "Log this level and above: trace, debug, info, notice, warning, error, critical.")
    var logLevel = Logger.Level.info

    func run() throws {
        LogSettings(format: .text, level: logLevel).bootstrap()
        var members: [NodeID: MemberAddress] = [:]
        for offset in 0..<3 {
            members[NodeID(UInt64(offset + 1))] = MemberAddress(
                host: "127.0.0.1", peerPort: basePort + offset, clientPort: basePort + 100 + offset)
        }
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        var servers: [QuorumNodeServer] = []
        for id in members.keys.sorted() {
            var configuration = ServerConfiguration(node: id, members: members, dataDirectory: "\(dataDir)/n\(id.rawValue)")
            configuration.consensus = consensus
            configuration.httpPort = basePort + 200 + Int(id.rawValue) - 1
            configuration.redisPort = basePort + 110 + Int(id.rawValue) - 1
            do {
                servers.append(try QuorumNodeServer(configuration: configuration))
            } catch {
                print("quorum dev: node \(id.rawValue): \(error)")
                throw ExitCode(2)
            }
        }
        let endpoints = members.keys.sorted().map { members[$0]!.clientAddress }.joined(separator: ",")
        print("""
            3 nodes running, data in \(dataDir)/. In another terminal:
              export QUORUM_ENDPOINTS=\(endpoints)
              quorum put greeting hello
              quorum get greeting
              quorum cluster status
              curl -s 127.0.0.1:\(basePort + 200)/v1/kv/greeting   (HTTP API: docs/http.md)
              redis-cli -p \(basePort + 110) get greeting           (Redis protocol: docs/redis.md)
            Stop with Ctrl-C; the data stays, and the next `quorum dev` picks up where this one left off.
            """)
        _ = Server.stopOnSignals(servers[0])
        try servers[0].wait()
        // All three go together, so there is no one to hand leadership to: each closes and flushes its log.
        for server in servers { try server.shutdown() }
        print("quorum dev: stopped, data kept in \(dataDir)/")
    }
}
