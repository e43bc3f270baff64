import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
import QuorumSharding

/// `quorum shard`: the shard map (which group owns which keys) and moving keys between groups.
struct ShardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard", abstract: "The shard map: which group owns which keys, and moving them.",
        subcommands: [List.self, Move.self, Declare.self, Split.self, Merge.self, Resume.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every hash-slot range and range-sharded span with the group that owns it, and moves under way.")
        @OptionGroup var options: ClientOptions

        struct Row: Encodable {
            var keys: String
            var group: UInt64
            var movingTo: UInt64?
        }

        struct Listing: Encodable {
            var epoch: UInt64
            var shards: [Row]
        }

        func run() async throws {
            let map = try await readMap(options)
            let moving = Dictionary(map.migrations.map { ($0.keys, $0.to.rawValue) }, uniquingKeysWith: { a, _ in a })
            var rows = map.assignment.ranges.map { range in
                Row(keys: "slots \(range.slots.lowerBound)-\(range.slots.upperBound)", group: range.group.rawValue)
            }
            for keyspace in map.keyspaces {
                rows += keyspace.owners.pieces.map { Row(keys: "keys \($0.span)", group: $0.value.rawValue) }
            }
            rows += map.migrations.map { Row(keys: "\($0.keys)", group: $0.from.rawValue, movingTo: moving[$0.keys]) }
            let widths = [40, 8, 0]
            let lines = rows.map { row in
                tableRow([row.keys, "\(row.group)", row.movingTo.map { "moving to group \($0)" } ?? ""], widths)
            }
            let text = ["epoch \(map.epoch)", tableRow(["KEYS", "GROUP", ""], widths)] + lines
            options.output(text.joined(separator: "\n"), json: Listing(epoch: map.epoch, shards: rows))
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move hash slots, with their keys, to another group while the cluster serves.",
            discussion: """
                The slots must all belong to one group. During the copy their keys are served by neither group \
                (Redis clients are told TRYAGAIN or ASK); other keys are not affected. A move that stops half-way \
                is recorded in the shard map and finished by running it again or `quorum shard resume`.
                """)
        @Argument(help: "The slots: one slot, or FIRST-LAST.") var slots: String
        @Option(help: "The group that receives them.") var to: UInt64
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let range = try Self.parse(slots)
            guard to > 0 else { throw ValidationError("groups are numbered from 1") }
            try await runMove(.slots(range), to: GroupID(to), options)
        }

        static func parse(_ text: String) throws -> ClosedRange<Int> {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(parts.count), let first = parts[0], let last = parts[parts.count - 1],
                first <= last, first >= 0, last < HashSlot.count
            else { throw ValidationError("slots are N or FIRST-LAST within 0-\(HashSlot.count - 1), not '\(text)'") }
            return first...last
        }
    }

    struct Declare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make keys under a prefix range-sharded (kept in key order), owned by one group at first.",
            discussion: "Declare it before writing keys under it; then split it to spread it over groups.")
        @Argument(help: "The key prefix.") var prefix: String
        @Option(help: "The group that owns the whole keyspace at first.") var owner: UInt64
        @OptionGroup var options: ClientOptions

        func run() async throws {
            guard owner > 0 else { throw ValidationError("groups are numbered from 1") }
            let map = try await withMover(options) { mover throws(QuorumClientError) in
                try await mover.declareKeyspace(prefix: Array(prefix.utf8), owner: GroupID(owner))
            }
            options.output(
                "keys under '\(prefix)' are range-sharded, owned by group \(owner); shard map epoch \(map.epoch)",
                json: ["epoch": map.epoch])
        }
    }

    struct Split: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Split a range-sharded span at a key: the keys from there to the span's end move to a group.")
        @Argument(help: "The key to split at; it must be inside a range-sharded keyspace.") var key: String
        @Option(help: "The group that receives the upper part.") var to: UInt64
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let at = Array(key.utf8)
            let map = try await readMap(options)
            guard let keyspace = map.keyspace(of: at),
                let piece = keyspace.owners.pieces.first(where: { $0.span.contains(at) })
            else { throw ValidationError("'\(key)' is not in a range-sharded keyspace; see quorum shard list") }
            guard let upper = KeySpan(start: at, end: piece.span.end), at != piece.span.start else {
                throw ValidationError("'\(key)' already starts a span: there is nothing to split there")
            }
            try await runMove(.span(upper), to: GroupID(to), options)
        }
    }

    struct Merge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge the range-sharded span that starts at a key into the span before it (its keys move there).")
        @Argument(help: "The first key of the span to merge away.") var key: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let start = Array(key.utf8)
            let map = try await readMap(options)
            guard let keyspace = map.keyspace(of: start),
                let position = keyspace.owners.pieces.firstIndex(where: { $0.span.start == start }), position > 0
            else {
                throw ValidationError("no range-sharded span after another starts at '\(key)'; see quorum shard list")
            }
            let piece = keyspace.owners.pieces[position]
            try await runMove(.span(piece.span), to: keyspace.owners.pieces[position - 1].value, options)
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Finish every move the shard map records as under way (after a mover stopped).")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let map = try await withMover(options) { mover throws(QuorumClientError) in
                try await mover.resumeAll { line in printProgress(line) }
            }
            options.output("no move under way; shard map epoch \(map.epoch)", json: ["epoch": map.epoch])
        }
    }
}

private func readMap(_ options: ClientOptions) async throws -> ShardMap {
    var addressed = options
    addressed.group = ShardMap.group.rawValue
    return try await withClient(addressed) { client throws(QuorumClientError) in try await client.shardMap() }
}

private func runMove(_ keys: KeySelector, to target: GroupID, _ options: ClientOptions) async throws {
    let map = try await withMover(options) { mover throws(QuorumClientError) in
        try await mover.move(keys, to: target) { line in printProgress(line) }
    }
    options.output("\(keys) moved to group \(target.rawValue); shard map epoch \(map.epoch)", json: ["epoch": map.epoch])
}

private func printProgress(_ line: String) {
    FileHandle.standardError.write(Data("\(line)\n".utf8))
}

/// Runs a shard mover against the cluster, turning its failure into a message on standard error and exit code 1.
private func withMover<T>(_ options: ClientOptions, _ body: (ShardMover) async throws(QuorumClientError) -> T)
    async throws -> T
{
    let mover = ShardMover(endpoints: options.endpointList, timeout: .seconds(options.timeout))
    do {
        return try await body(mover)
    } catch {
        FileHandle.standardError.write(Data("quorum: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
