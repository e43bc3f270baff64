import ArgumentParser
import Foundation
import QuorumConsensus
import QuorumServer

/// Runs one node of a cluster until it is killed. Storage is crash-safe, so SIGTERM and SIGKILL lose nothing
/// that was acknowledged.
struct Server: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Quorum node.",
        discussion: """
            Every member is started with the same --cluster list. Example, three nodes on one machine:
              quorum server --id 1 --cluster 1=127.0.0.1:7101:7201,2=127.0.0.1:7102:7202,3=127.0.0.1:7103:7203 \\
                --data-dir /tmp/q1
            Clients connect to the third number of each member (the client port).
            """
    )

    @Option(help: "This node's id, as listed in --cluster.")
    var id: UInt64

    @Option(help: "Every founding member: ID=HOST:PEER_PORT:CLIENT_PORT, comma-separated (env QUORUM_CLUSTER).")
    var cluster: String?

    @Option(help: "Where this node keeps its log and snapshots; one process per directory.")
    var dataDir: String

    @Flag(help: "Join a running cluster (after `quorum cluster add`) instead of founding one.")
    var join = false

    @Option(help: "Milliseconds per engine tick; elections take 10–20 ticks.")
    var tickMilliseconds: Int64 = 50

    @Option(help: "Revisions of history to keep; older ones are compacted automatically (0 keeps all).")
    var historyRevisions: UInt64 = 100_000

    @Option(help: "Serve the HTTP/JSON API (docs/http.md) on this port of this member's host; off when omitted.")
    var httpPort: Int?

    func run() throws {
        guard let list = cluster ?? environment("QUORUM_CLUSTER") else {
            throw ValidationError("give the members with --cluster or QUORUM_CLUSTER")
        }
        let members: [NodeID: MemberAddress]
        do {
            members = try ServerConfiguration.parseMembers(list)
        } catch {
            throw ValidationError(error.description)
        }
        guard members[NodeID(id)] != nil else { throw ValidationError("--id \(id) is not in --cluster") }
        var configuration = ServerConfiguration(node: NodeID(id), members: members, dataDirectory: dataDir)
        configuration.tickMilliseconds = tickMilliseconds
        configuration.joining = join
        configuration.historyRevisionsRetained = historyRevisions
        if let httpPort, !(1...65535).contains(httpPort) { throw ValidationError("--http-port must be 1–65535") }
        configuration.httpPort = httpPort
        let server: QuorumNodeServer
        do {
            let parent = (dataDir as NSString).deletingLastPathComponent
            if !parent.isEmpty { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
            server = try QuorumNodeServer(configuration: configuration)
        } catch {
            print("quorum server: \(error)")
            throw ExitCode(2)
        }
        print("node \(id) serving clients on \(configuration.address.clientAddress), peers on port \(configuration.address.peerPort)")
        if let httpPort { print("node \(id) serving HTTP on http://\(configuration.address.host):\(httpPort)") }
        try server.wait()
    }
}
