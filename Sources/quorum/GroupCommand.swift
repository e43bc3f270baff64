import ArgumentParser
import QuorumClient
import QuorumConsensus
import QuorumWire

/// `quorum group`: the consensus groups the nodes host.
struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "The consensus groups the cluster's nodes host.",
        subcommands: [List.self, Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a node of the cluster to a group: it gets an empty replica, which the leader catches up.",
            discussion: "The node must be a member of the cluster (group 1) and among --endpoints.")
        @Argument(help: "The group.") var group: UInt64
        @Argument(help: "The node's id.") var node: UInt64
        @Flag(help: "Keep the new replica a learner instead of promoting it to voter once caught up.")
        var learner = false
        @OptionGroup var options: ClientOptions

        func run() async throws {
            guard group > 0, node > 0 else { throw ValidationError("groups and nodes count from 1") }
            var addressed = options
            addressed.group = group
            let status = try await withClient(addressed) { client throws(QuorumClientError) in
                var endpoint: String?
                for candidate in await client.endpoints where endpoint == nil {
                    if (try? await client.status(of: candidate))?.node == NodeID(node) { endpoint = candidate }
                }
                guard let endpoint else {
                    throw .refused("no endpoint answers as node \(node); give its client address in --endpoints")
                }
                try await client.createReplica(on: endpoint)
                return try await client.addMember(NodeID(node), address: "", staysLearner: learner)
            }
            let voters = status.voters.map { "\($0.rawValue)" }.joined(separator: ",")
            let learners = status.learners.map { "\($0.rawValue)" }.joined(separator: ",")
            print(
                "added node \(node) to group \(group); voters now \(voters)"
                    + (learners.isEmpty ? "" : ", learners \(learners)"))
        }
    }

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
            let client = try options.makeClient()
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
