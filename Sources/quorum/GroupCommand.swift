import ArgumentParser
import QuorumClient
import QuorumConsensus
import QuorumWire

/// `quorum group`: the consensus groups the nodes host.
struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "The consensus groups the cluster's nodes host.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every group any reachable node hosts: its leader, term, commit index and replicas.")
        @OptionGroup var options: ClientOptions

        /// One group as the reachable nodes report it: the newest term's view wins.
        struct Row: Encodable {
            var group: UInt64
            var leader: UInt64?
            var term: UInt64
            var commitIndex: UInt64
            var replicas: [UInt64]
        }

        func run() async throws {
            let client = options.makeClient()
            var rows: [UInt64: Row] = [:]
            var reached = 0
            for endpoint in await client.endpoints {
                guard let status = try? await client.status(of: endpoint),
                    let groups = try? await client.groups(of: endpoint)
                else { continue }
                reached += 1
                for group in groups {
                    var row =
                        rows[group.group.rawValue]
                        ?? Row(group: group.group.rawValue, leader: nil, term: 0, commitIndex: 0, replicas: [])
                    row.replicas.append(status.node.rawValue)
                    if group.term.rawValue >= row.term {
                        row.term = group.term.rawValue
                        row.leader = group.leader?.rawValue ?? row.leader
                    }
                    row.commitIndex = max(row.commitIndex, group.commitIndex.rawValue)
                    rows[group.group.rawValue] = row
                }
            }
            await client.close()
            guard reached > 0 else {
                print("quorum: no node answered")
                throw ExitCode.failure
            }
            let sorted = rows.keys.sorted().map { key -> Row in
                var row = rows[key]!
                row.replicas.sort()
                return row
            }
            let widths = [8, 8, 10, 10, 0]
            let lines = sorted.map { row in
                tableRow(
                    [
                        "\(row.group)", row.leader.map { "\($0)" } ?? "-", "\(row.term)", "\(row.commitIndex)",
                        row.replicas.map { "\($0)" }.joined(separator: ","),
                    ], widths)
            }
            let text = ([tableRow(["GROUP", "LEADER", "TERM", "COMMIT", "REPLICAS"], widths)] + lines)
            options.output(text.joined(separator: "\n"), json: sorted)
        }
    }
}
