import ArgumentParser

@main
struct Quorum: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quorum: replicated coordination and storage.",
        subcommands: [Dev.self, Server.self, Put.self, Get.self, RangeCommand.self, Delete.self, Transaction.self, ServiceCommand.self, LockCommand.self, Proxy.self, Cluster.self, GroupCommand.self, ShardCommand.self, SnapshotCommand.self, Watch.self, Lease.self, UserCommand.self, RoleCommand.self, AuthCommand.self, Bench.self, Simulate.self, Chaos.self]
    )
}
