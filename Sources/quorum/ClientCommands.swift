import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
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

    func makeClient() -> QuorumClient {
        let list = endpoints ?? environment("QUORUM_ENDPOINTS") ?? "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203"
        return QuorumClient(
            endpoints: list.split(separator: ",").map(String.init), timeout: .seconds(timeout))
    }
}

func environment(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}

/// Runs a client call, turning its failure into a message on standard error and exit code 1.
func withClient<T>(_ options: ClientOptions, _ body: (QuorumClient) async throws(QuorumClientError) -> T)
    async throws -> T
{
    let client = options.makeClient()
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

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Set a key to a value.")
    @OptionGroup var options: ClientOptions
    @Argument var key: String
    @Argument var value: String
    @Option(help: "Attach the key to this lease (hex id from `quorum lease grant`): it goes when the lease does.")
    var lease: String?

    func run() async throws {
        let leaseID = try lease.map(parseLease)
        let response = try await withClient(options) { client throws(QuorumClientError) in
            try await client.put(Array(key.utf8), Array(value.utf8), lease: leaseID)
        }
        options.output("OK (revision \(response.revision.rawValue))", json: ["revision": response.revision.rawValue])
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a key's value; exit code 2 if it does not exist.")
    @OptionGroup var options: ClientOptions
    @Argument var key: String
    @Flag(help: "Read this node's state without asking the leader (faster, possibly stale).")
    var serializable = false

    func run() async throws {
        let found = try await withClient(options) { client throws(QuorumClientError) in
            try await client.get(Array(key.utf8), linearizable: !serializable)
        }
        guard let found else {
            if options.json { print("null") }
            throw ExitCode(2)
        }
        options.output(String(decoding: found.value, as: UTF8.self), json: JSONKeyValue(found))
    }
}

struct RangeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "range", abstract: "List keys in [START, END), or every key with a prefix, with their values.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The first key, or the prefix with --prefix.") var start: String
    @Argument(help: "The key to stop before; omit for START alone (or everything from START with --from).") var end: String?
    @Flag(help: "Every key that starts with START.") var prefix = false
    @Flag(help: "Every key from START to the end of the key space.") var from = false
    @Option(help: "At most this many keys (0: no limit).") var limit = 0
    @Option(help: "Read as of this revision.") var revision: UInt64?
    @Flag(help: "Read this node's state without asking the leader.") var serializable = false

    func validate() throws {
        if [prefix, from, end != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give at most one of END, --prefix and --from")
        }
    }

    func run() async throws {
        let key = Array(start.utf8)
        let rangeEnd: [UInt8]? = prefix ? KeyRange.prefixEnd(of: key) : from ? [0] : end.map { Array($0.utf8) }
        let request = RangeRequest(key: key, rangeEnd: rangeEnd, limit: limit, revision: revision.map { Revision($0) })
        let response = try await withClient(options) { client throws(QuorumClientError) in
            try await client.range(request, linearizable: !serializable)
        }
        let lines = response.kvs.map { "\(String(decoding: $0.key, as: UTF8.self)) = \(String(decoding: $0.value, as: UTF8.self))" }
            + (response.more ? ["(more: \(response.count) in all)"] : [])
        options.output(lines.joined(separator: "\n"), json: JSONRange(response))
    }

    struct JSONRange: Encodable {
        var revision: UInt64
        var kvs: [JSONKeyValue]
        var more: Bool
        var count: Int

        init(_ response: RangeResponse) {
            revision = response.revision.rawValue
            kvs = response.kvs.map(JSONKeyValue.init)
            more = response.more
            count = response.count
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "del", abstract: "Delete a key.")
    @OptionGroup var options: ClientOptions
    @Argument var key: String

    func run() async throws {
        let response = try await withClient(options) { client throws(QuorumClientError) in
            try await client.delete(Array(key.utf8))
        }
        options.output("deleted \(response.deleted)", json: ["deleted": UInt64(response.deleted), "revision": response.revision.rawValue])
    }
}

struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and change the cluster.", subcommands: [Status.self, Add.self, Remove.self, Transfer.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a node: it joins as a learner and becomes a voter once caught up.",
            discussion: "Start the new node with `quorum server --join`, listing the members and itself in --cluster.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The new node's id.") var id: UInt64
        @Argument(help: "Where it listens: HOST:PEER_PORT:CLIENT_PORT.") var address: String
        @Flag(help: "Keep it a learner (a non-voting replica) instead of promoting it.") var learner = false

        func run() async throws {
            let status = try await withClient(options) { client throws(QuorumClientError) in
                try await client.addMember(NodeID(id), address: address, staysLearner: learner)
            }
            print("added node \(id); voters now \(status.voters.map { "\($0.rawValue)" }.joined(separator: ","))"
                + (status.learners.isEmpty ? "" : ", learners \(status.learners.map { "\($0.rawValue)" }.joined(separator: ","))"))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a node from the cluster.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The node's id.") var id: UInt64

        func run() async throws {
            let status = try await withClient(options) { client throws(QuorumClientError) in
                try await client.removeMember(NodeID(id))
            }
            print("removed node \(id); voters now \(status.voters.map { "\($0.rawValue)" }.joined(separator: ","))")
        }
    }

    struct Transfer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hand leadership to another voter.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The voter that should lead.") var id: UInt64

        func run() async throws {
            _ = try await withClient(options) { client throws(QuorumClientError) in
                try await client.transferLeadership(to: NodeID(id))
            }
            print("leadership transfer to node \(id) started")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each node's role, term, and log positions.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = options.makeClient()
            var statuses: [JSONNodeStatus] = []
            for endpoint in await client.endpoints {
                do throws(QuorumClientError) {
                    statuses.append(JSONNodeStatus(endpoint: endpoint, status: try await client.status(of: endpoint), error: nil))
                } catch {
                    statuses.append(JSONNodeStatus(endpoint: endpoint, status: nil, error: error.description))
                }
            }
            await client.close()
            // Lag: how many committed entries a node has yet to apply, against the highest commit index seen.
            let newestCommit = statuses.compactMap(\.commitIndex).max() ?? 0
            for index in statuses.indices where statuses[index].appliedIndex != nil {
                statuses[index].lag = newestCommit - statuses[index].appliedIndex!
            }
            let widths = [22, 6, 14, 6, 8, 8, 9, 8, 6, 0]
            let header = ["ENDPOINT", "NODE", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST", "LAG", "VOTERS"]
            let rows = statuses.map { status -> String in
                guard let node = status.node else { return tableRow([status.endpoint, "unreachable: \(status.error ?? "")"], widths) }
                let cells = [
                    status.endpoint, "\(node)", status.role ?? "", "\(status.term ?? 0)", status.leader.map { "\($0)" } ?? "-",
                    "\(status.commitIndex ?? 0)", "\(status.appliedIndex ?? 0)", "\(status.lastIndex ?? 0)", "\(status.lag ?? 0)",
                    (status.voters ?? []).map { "\($0)" }.joined(separator: ","),
                ]
                return tableRow(cells, widths)
            }
            options.output(([tableRow(header, widths)] + rows).joined(separator: "\n"), json: statuses)
            if !statuses.contains(where: { $0.node != nil }) { throw ExitCode.failure }
        }
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print changes to a key (or every key with a prefix) as they happen, until interrupted.")
    @OptionGroup var options: ClientOptions
    @Argument var key: String
    @Flag(help: "Watch every key that starts with KEY.") var prefix = false
    @Option(help: "Start from this revision: replay history first, then follow live.") var revision: UInt64?

    func run() async throws {
        let client = options.makeClient()
        let keyBytes = Array(key.utf8)
        do {
            let stream = try await client.watch(
                keyBytes, rangeEnd: prefix ? KeyRange.prefixEnd(of: keyBytes) : nil, startRevision: revision.map { Revision($0) })
            for try await events in stream {
                for event in events {
                    let name = String(decoding: event.kv.key, as: UTF8.self)
                    switch event.kind {
                    case .put: print("PUT \(name) \(String(decoding: event.kv.value, as: UTF8.self)) (revision \(event.kv.modRevision.rawValue))")
                    case .delete: print("DELETE \(name) (revision \(event.kv.modRevision.rawValue))")
                    }
                }
            }
        } catch {
            await client.close()
            FileHandle.standardError.write(Data("quorum: \(error)\n".utf8))
            throw ExitCode.failure
        }
        await client.close()
    }
}

func parseLease(_ text: String) throws -> LeaseID {
    guard let raw = UInt64(text, radix: 16), raw != 0 else { throw ValidationError("'\(text)' is not a lease id") }
    return LeaseID(raw)
}

struct Lease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Grant, keep alive, revoke and list leases.",
        subcommands: [Grant.self, KeepAlive.self, Revoke.self, List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every live lease: id, TTL, time left, keys.")
        @OptionGroup var options: ClientOptions

        struct JSONLease: Encodable {
            var id: String
            var ttl: UInt64
            var remainingSeconds: UInt64
            var keys: [String]
        }

        func run() async throws {
            let leases = try await withClient(options) { client throws(QuorumClientError) in try await client.leases() }
            let rows = leases.map {
                JSONLease(
                    id: String($0.id.rawValue, radix: 16), ttl: $0.grantedTTL.rawValue,
                    remainingSeconds: $0.remainingSeconds, keys: $0.keys.map { String(decoding: $0, as: UTF8.self) })
            }
            let widths = [18, 8, 10, 0]
            let text = ([tableRow(["ID", "TTL", "LEFT", "KEYS"], widths)] + rows.map {
                tableRow([$0.id, "\($0.ttl)s", "\($0.remainingSeconds)s", $0.keys.joined(separator: ",")], widths)
            }).joined(separator: "\n")
            options.output(text, json: rows)
        }
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant a lease; prints its id.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Seconds the lease lives without a keep-alive.") var ttl: UInt64

        func run() async throws {
            let lease = try await withClient(options) { client throws(QuorumClientError) in
                try await client.grantLease(ttl: ttl)
            }
            options.output(String(lease.rawValue, radix: 16), json: ["id": String(lease.rawValue, radix: 16)])
        }
    }

    struct KeepAlive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keepalive", abstract: "Keep a lease alive, every third of its TTL, until interrupted.")
        @OptionGroup var options: ClientOptions
        @Argument var lease: String
        @Flag(help: "Renew once and exit.") var once = false

        func run() async throws {
            let id = try parseLease(lease)
            repeat {
                let ttl = try await withClient(options) { client throws(QuorumClientError) in try await client.keepAlive(id) }
                print("lease \(lease) renewed for \(ttl.rawValue) s")
                if !once { try await Task.sleep(for: .seconds(max(1, Double(ttl.rawValue) / 3))) }
            } while !once
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a lease, deleting its keys.")
        @OptionGroup var options: ClientOptions
        @Argument var lease: String

        func run() async throws {
            let id = try parseLease(lease)
            try await withClient(options) { client throws(QuorumClientError) in try await client.revokeLease(id) }
            print("revoked")
        }
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
    /// Committed entries this node has yet to apply, against the newest commit index any node reported.
    var lag: UInt64?
    var error: String?

    init(endpoint: String, status: NodeStatus?, error: String?) {
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
        self.error = error
    }
}

/// Cells padded to their column widths, for human-readable tables.
func tableRow(_ cells: [String], _ widths: [Int]) -> String {
    zip(cells, widths + Array(repeating: 0, count: max(0, cells.count - widths.count))).map { cell, width in
        cell.count >= width ? cell + " " : cell + String(repeating: " ", count: width - cell.count)
    }.joined()
}
