import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
import QuorumSharding

/// `quorum shard`: the shard map (which group owns which hash slots) and moving slots between groups.
struct ShardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard", abstract: "The shard map: which group owns which hash slots, and moving them.",
        subcommands: [List.self, Move.self, Resume.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every slot range with the group that owns it, and the moves under way.")
        @OptionGroup var options: ClientOptions

        struct Row: Encodable {
            var first: Int
            var last: Int
            var group: UInt64
            var movingTo: UInt64?
        }

        struct Listing: Encodable {
            var epoch: UInt64
            var ranges: [Row]
        }

        func run() async throws {
            var addressed = options
            addressed.group = ShardMap.group.rawValue
            let map = try await withClient(addressed) { client throws(QuorumClientError) in try await client.shardMap() }
            // A moving range is listed with its target; ranges split where moves begin and end.
            var rows: [Row] = []
            for range in map.assignment.ranges {
                var start = range.slots.lowerBound
                for migration in map.migrations where migration.slots.overlaps(range.slots) {
                    if migration.slots.lowerBound > start {
                        rows.append(Row(first: start, last: migration.slots.lowerBound - 1, group: range.group.rawValue))
                    }
                    rows.append(
                        Row(
                            first: migration.slots.lowerBound, last: migration.slots.upperBound,
                            group: range.group.rawValue, movingTo: migration.to.rawValue))
                    start = migration.slots.upperBound + 1
                }
                if start <= range.slots.upperBound {
                    rows.append(Row(first: start, last: range.slots.upperBound, group: range.group.rawValue))
                }
            }
            let widths = [14, 8, 0]
            let lines = rows.map { row in
                tableRow(
                    ["\(row.first)-\(row.last)", "\(row.group)", row.movingTo.map { "moving to group \($0)" } ?? ""],
                    widths)
            }
            let text = ["epoch \(map.epoch)", tableRow(["SLOTS", "GROUP", ""], widths)] + lines
            options.output(text.joined(separator: "\n"), json: Listing(epoch: map.epoch, ranges: rows))
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move hash slots, with their keys, to another group while the cluster serves.",
            discussion: """
                The slots must all belong to one group. During the copy their keys are served by neither group \
                (Redis clients are told TRYAGAIN or ASK); other slots are not affected. A move that stops \
                half-way is recorded in the shard map and finished by running it again or `quorum shard resume`.
                """)
        @Argument(help: "The slots: one slot, or FIRST-LAST.") var slots: String
        @Option(help: "The group that receives them.") var to: UInt64
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let range = try Self.parse(slots)
            guard to > 0 else { throw ValidationError("groups are numbered from 1") }
            let map = try await withMover(options) { mover throws(QuorumClientError) in
                try await mover.move(range, to: GroupID(to)) { line in printProgress(line) }
            }
            options.output(
                "slots \(range.lowerBound)-\(range.upperBound) moved to group \(to); shard map epoch \(map.epoch)",
                json: ["epoch": map.epoch])
        }

        static func parse(_ text: String) throws -> ClosedRange<Int> {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(parts.count), let first = parts[0], let last = parts[parts.count - 1],
                first <= last, first >= 0, last < HashSlot.count
            else { throw ValidationError("slots are N or FIRST-LAST within 0-\(HashSlot.count - 1), not '\(text)'") }
            return first...last
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Finish every slot move the shard map records as under way (after a mover stopped).")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let map = try await withMover(options) { mover throws(QuorumClientError) in
                try await mover.resumeAll { line in printProgress(line) }
            }
            options.output("no move under way; shard map epoch \(map.epoch)", json: ["epoch": map.epoch])
        }
    }
}

private func printProgress(_ line: String) {
    FileHandle.standardError.write(Data("\(line)\n".utf8))
}

/// Runs a slot mover against the cluster, turning its failure into a message on standard error and exit code 1.
private func withMover<T>(_ options: ClientOptions, _ body: (SlotMover) async throws(QuorumClientError) -> T)
    async throws -> T
{
    let mover = SlotMover(endpoints: options.endpointList, timeout: .seconds(options.timeout))
    do {
        return try await body(mover)
    } catch {
        FileHandle.standardError.write(Data("quorum: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
