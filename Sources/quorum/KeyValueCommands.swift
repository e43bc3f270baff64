import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
import QuorumStore
import QuorumWire

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
