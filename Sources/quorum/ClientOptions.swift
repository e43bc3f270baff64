import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumStore
import QuorumWire

/// Where the cluster is (`--endpoints`, else `QUORUM_ENDPOINTS`, else the `quorum dev` nodes), and how to print.
struct ClientOptions: ParsableArguments {
    @Option(help: "Client addresses, HOST:PORT, comma-separated (env QUORUM_ENDPOINTS).")
    var endpoints: String?

    @Option(help: "Give up after this many seconds.")
    var timeout: Int = 5

    @Flag(help: "Print JSON for scripts instead of text.")
    var json = false

    @Option(help: "The consensus group to address (default 1, the cluster's own; `quorum group list` shows them).")
    var group: UInt64 = 1

    @Option(
        help: "Speak TLS to the nodes, trusting the certificate authority in this PEM file (env QUORUM_TLS_CA).")
    var tlsCa: String?

    @Option(
        help: """
            Authenticate as this user, NAME:PASSWORD (env QUORUM_USER; or NAME alone with env QUORUM_PASSWORD), for a \
            cluster with authentication on.
            """)
    var user: String?

    func validate() throws {
        if group == 0 { throw ValidationError("groups are numbered from 1") }
    }

    /// Prints `text` for people, or `value` as one line of JSON for scripts.
    func output(_ text: @autoclosure () -> String, json value: some Encodable) {
        guard json else {
            print(text())
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self))
    }

    var endpointList: [String] {
        let list = endpoints ?? environment("QUORUM_ENDPOINTS") ?? "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203"
        return list.split(separator: ",").map(String.init)
    }

    func makeClient() throws -> QuorumClient {
        let tls = try (tlsCa ?? environment("QUORUM_TLS_CA")).map { path in
            do { return try QuorumClientTLS(certificateAuthorityFile: path) } catch {
                throw ValidationError("cannot read the certificate authority \(path): \(error)")
            }
        }
        return QuorumClient(
            endpoints: endpointList, timeout: .seconds(timeout), group: GroupID(group), tls: tls,
            credentials: try credentials())
    }

    /// `--user NAME:PASSWORD`, or `QUORUM_USER` with the password after a colon or in `QUORUM_PASSWORD`.
    func credentials() throws -> QuorumCredentials? {
        guard let given = user ?? environment("QUORUM_USER") else { return nil }
        let parts = given.split(separator: ":", maxSplits: 1)
        let name = String(parts.first ?? "")
        guard let password = parts.count == 2 ? String(parts[1]) : environment("QUORUM_PASSWORD") else {
            throw ValidationError("--user \(name) has no password: give NAME:PASSWORD, or set QUORUM_PASSWORD")
        }
        return .password(user: name, password: password)
    }
}

func environment(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}

/// Runs a client call, turning its failure into a message on standard error and exit code 1.
func withClient<T>(_ options: ClientOptions, _ body: (QuorumClient) async throws(QuorumClientError) -> T)
    async throws -> T
{
    let client = try options.makeClient()
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        FileHandle.standardError.write(Data("quorum: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// A key-value as scripts see it: UTF-8 strings (invalid sequences replaced) and plain numbers.
struct JSONKeyValue: Encodable {
    var key: String
    var value: String
    var createRevision: UInt64
    var modRevision: UInt64
    var version: UInt64
    var lease: String?

    init(_ kv: KeyValue) {
        key = String(decoding: kv.key, as: UTF8.self)
        value = String(decoding: kv.value, as: UTF8.self)
        createRevision = kv.createRevision.rawValue
        modRevision = kv.modRevision.rawValue
        version = kv.version
        lease = kv.lease.map { String($0.rawValue, radix: 16) }
    }
}

struct JSONNodeStatus: Encodable {
    var endpoint: String
    var node: UInt64?
    var role: String?
    var term: UInt64?
    var leader: UInt64?
    var commitIndex: UInt64?
    var appliedIndex: UInt64?
    var lastIndex: UInt64?
    var voters: [UInt64]?
    var learners: [UInt64]?
    /// How many groups the node hosts, and how many of them it leads.
    var groups: Int?
    var groupsLed: Int?
    /// How many shards (slot ranges and key spans of the shard map) belong to the groups the node leads.
    var shardsLed: Int?
    /// Committed entries this node has yet to apply, against the newest commit index any node reported.
    var lag: UInt64?
    var error: String?

    init(
        endpoint: String, status: NodeStatus?, groups: [GroupStatus]? = nil, shardMap: ShardMap? = nil, error: String?
    ) {
        self.endpoint = endpoint
        node = status?.node.rawValue
        role = status?.role
        term = status?.term.rawValue
        leader = status?.leader?.rawValue
        commitIndex = status?.commitIndex.rawValue
        appliedIndex = status?.appliedIndex.rawValue
        lastIndex = status?.lastIndex.rawValue
        voters = status?.voters.map(\.rawValue)
        learners = status?.learners.map(\.rawValue)
        self.groups = groups?.count
        groupsLed = groups?.count { $0.role == "leader" }
        if let groups, let shardMap {
            let led = Set(groups.filter { $0.role == "leader" }.map(\.group))
            shardsLed =
                shardMap.assignment.ranges.count { led.contains($0.group) }
                + shardMap.keyspaces.reduce(0) { $0 + $1.owners.pieces.count { led.contains($0.value) } }
        }
        self.error = error
    }
}

/// Cells padded to their column widths, for human-readable tables.
func tableRow(_ cells: [String], _ widths: [Int]) -> String {
    zip(cells, widths + Array(repeating: 0, count: max(0, cells.count - widths.count))).map { cell, width in
        cell.count >= width ? cell + " " : cell + String(repeating: " ", count: width - cell.count)
    }.joined()
}
