import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumStore
import QuorumWire

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
            print(
                "added node \(id); voters now \(status.voters.map { "\($0.rawValue)" }.joined(separator: ","))"
                    + (status.learners.isEmpty
                        ? "" : ", learners \(status.learners.map { "\($0.rawValue)" }.joined(separator: ","))"))
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
        static let configuration = CommandConfiguration(
            abstract: """
                Each node's role, term and log positions in the group, how many groups it hosts and leads, and how \
                many shards the groups it leads own.
                """)
        @OptionGroup var options: ClientOptions

        @Flag(help: "Redraw the table every --interval seconds until interrupted (with --json: one line each).")
        var watch = false

        @Option(help: "Seconds between redraws with --watch.")
        var interval = 1.0

        func validate() throws {
            guard interval >= 0.1 && interval <= 3600 else {
                throw ValidationError("--interval must be 0.1 to 3600 seconds")
            }
        }

        func run() async throws {
            let client = try options.makeClient()
            guard watch else {
                let statuses = await Self.statuses(client, group: options.group)
                await client.close()
                options.output(Self.table(statuses), json: statuses)
                if !statuses.contains(where: { $0.node != nil }) { throw ExitCode.failure }
                return
            }
            // On a terminal the table is redrawn over itself; piped, each one follows the last, under its time.
            let redraws = isatty(STDOUT_FILENO) == 1 && !options.json
            while !Task.isCancelled {
                let statuses = await Self.statuses(client, group: options.group)
                if redraws {
                    print("\u{1B}[H\u{1B}[2J" + Date().formatted(.iso8601) + "\n" + Self.table(statuses))
                } else {
                    options.output(Date().formatted(.iso8601) + "\n" + Self.table(statuses) + "\n", json: statuses)
                }
                fflush(nil)
                try await Task.sleep(for: .seconds(interval))
            }
            await client.close()
        }

        static func statuses(_ client: QuorumClient, group: UInt64) async -> [JSONNodeStatus] {
            // The shard map lives in group 1; asked of another group, the shard counts are left out.
            let shardMap = group == ShardMap.group.rawValue ? try? await client.shardMap() : nil
            var statuses: [JSONNodeStatus] = []
            for endpoint in await client.endpoints {
                do throws(QuorumClientError) {
                    let status = try await client.status(of: endpoint)
                    let groups = try await client.groups(of: endpoint)
                    statuses.append(
                        JSONNodeStatus(endpoint: endpoint, status: status, groups: groups, shardMap: shardMap, error: nil))
                } catch {
                    statuses.append(JSONNodeStatus(endpoint: endpoint, status: nil, error: error.description))
                }
            }
            // Lag: how many committed entries a node has yet to apply, against the highest commit index seen.
            let newestCommit = statuses.compactMap(\.commitIndex).max() ?? 0
            for index in statuses.indices where statuses[index].appliedIndex != nil {
                statuses[index].lag = newestCommit - statuses[index].appliedIndex!
            }
            return statuses
        }

        static func table(_ statuses: [JSONNodeStatus]) -> String {
            let widths = [22, 6, 14, 6, 8, 8, 9, 8, 6, 8, 6, 8, 0]
            let header = [
                "ENDPOINT", "NODE", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST", "LAG", "GROUPS", "LED",
                "SHARDS", "VOTERS",
            ]
            let rows = statuses.map { status -> String in
                guard let node = status.node else {
                    return tableRow([status.endpoint, "unreachable: \(status.error ?? "")"], widths)
                }
                let cells = [
                    status.endpoint, "\(node)", status.role ?? "", "\(status.term ?? 0)",
                    status.leader.map { "\($0)" } ?? "-",
                    "\(status.commitIndex ?? 0)", "\(status.appliedIndex ?? 0)", "\(status.lastIndex ?? 0)",
                    "\(status.lag ?? 0)",
                    "\(status.groups ?? 0)", "\(status.groupsLed ?? 0)", status.shardsLed.map { "\($0)" } ?? "-",
                    (status.voters ?? []).map { "\($0)" }.joined(separator: ","),
                ]
                return tableRow(cells, widths)
            }
            return ([tableRow(header, widths)] + rows).joined(separator: "\n")
        }
    }
}
