import QuorumConsensus
import QuorumSharding
import QuorumWire

/// CLUSTER's subcommands, answered as a Redis Cluster node would, from this node's view of each group: a group's
/// leader is the master of its slots and the group's other voters its replicas. In Redis a node is a master or a
/// replica; here a node leads some groups and follows others, so CLUSTER NODES lists every node as a master of the
/// slots of the groups it leads, and CLUSTER SLOTS and SHARDS list each group's followers as its replicas.
extension RedisRouter {
    func cluster(_ command: RedisCommand) -> RESPValue {
        guard shardMap != nil else { return .error("ERR This instance has cluster support disabled") }
        switch command.option(0) {
        case "KEYSLOT":
            guard command.arguments.count == 2 else { return command.arityError }
            return .integer(Int64(HashSlot(key: command.arguments[1]).rawValue))
        case "MYID":
            return .bulkString(Self.clusterNodeID(host.configuration.node))
        case "INFO":
            return .bulkString(clusterInfo + "\r\n")
        case "SLOTS":
            return .array(shards.compactMap(slotsEntry).flatMap { $0 })
        case "SHARDS":
            return .array(shards.map(shardEntry))
        case "NODES":
            return .bulkString(nodesText)
        default:
            return .error("ERR unknown subcommand '\(command.argument(0))'. Try CLUSTER HELP.")
        }
    }

    /// Redis names nodes by 40 hexadecimal digits; Quorum's node ids fit in the last 16.
    static func clusterNodeID(_ node: NodeID) -> String {
        let hex = String(node.rawValue, radix: 16)
        return String(repeating: "0", count: 40 - hex.count) + hex
    }

    /// INFO's cluster section, and CLUSTER INFO: the state is ok when every group owning slots has a leader here.
    var clusterInfo: String {
        let shards = shards
        let epoch = shardMap?.epoch ?? 0
        let served = shards.filter { $0.leader != nil }.reduce(0) { $0 + $1.slots.reduce(0) { $0 + $1.count } }
        let lines = [
            "cluster_enabled:1", "cluster_state:\(served == HashSlot.count ? "ok" : "fail")",
            "cluster_slots_assigned:\(HashSlot.count)", "cluster_slots_ok:\(served)", "cluster_slots_pfail:0",
            "cluster_slots_fail:\(HashSlot.count - served)", "cluster_known_nodes:\(host.addressBook.members.count)",
            "cluster_size:\(shards.count)", "cluster_current_epoch:\(epoch)", "cluster_my_epoch:\(epoch)",
        ]
        return lines.joined(separator: "\r\n")
    }

    /// One group's slots as this node sees them: its leader and its other voters.
    private struct Shard {
        var group: GroupID
        var slots: [ClosedRange<Int>]
        var leader: NodeID?
        var followers: [NodeID]
    }

    private var shards: [Shard] {
        guard let map = shardMap else { return [] }
        var slotsByGroup: [GroupID: [ClosedRange<Int>]] = [:]
        for range in map.assignment.ranges { slotsByGroup[range.group, default: []].append(range.slots) }
        return slotsByGroup.keys.sorted().map { group in
            let status = host.group(group)?.status
            let leader = status?.leader
            return Shard(
                group: group, slots: slotsByGroup[group]!, leader: leader,
                followers: (status?.voters ?? []).filter { $0 != leader })
        }
    }

    /// The host, port and id Redis Cluster clients connect to, if `node` has said where it serves Redis.
    private func endpoint(of node: NodeID) -> (host: String, port: Int, id: String)? {
        guard let address = host.redisAddress(of: node), let colon = address.lastIndex(of: ":"),
            let port = Int(address[address.index(after: colon)...])
        else { return nil }
        return (String(address[..<colon]), port, Self.clusterNodeID(node))
    }

    private func slotsEntry(_ shard: Shard) -> [RESPValue]? {
        guard let leader = shard.leader.flatMap(endpoint(of:)) else { return nil }
        let nodes = [leader] + shard.followers.compactMap(endpoint(of:))
        let nodeEntries: [RESPValue] = nodes.map {
            .array([.bulkString($0.host), .integer(Int64($0.port)), .bulkString($0.id)])
        }
        return shard.slots.map { range in
            .array([.integer(Int64(range.lowerBound)), .integer(Int64(range.upperBound))] + nodeEntries)
        }
    }

    private func shardEntry(_ shard: Shard) -> RESPValue {
        let slots = shard.slots.flatMap { [RESPValue.integer(Int64($0.lowerBound)), .integer(Int64($0.upperBound))] }
        let members = (shard.leader.map { [$0] } ?? []) + shard.followers
        let nodes: [RESPValue] = members.compactMap { node in
            guard let endpoint = endpoint(of: node) else { return nil }
            return .map([
                .init(.bulkString("id"), .bulkString(endpoint.id)),
                .init(.bulkString("port"), .integer(Int64(endpoint.port))),
                .init(.bulkString("ip"), .bulkString(endpoint.host)),
                .init(.bulkString("endpoint"), .bulkString(endpoint.host)),
                .init(.bulkString("role"), .bulkString(node == shard.leader ? "master" : "replica")),
                .init(.bulkString("replication-offset"), .integer(0)),
                .init(.bulkString("health"), .bulkString("online")),
            ])
        }
        return .map([.init(.bulkString("slots"), .array(slots)), .init(.bulkString("nodes"), .array(nodes))])
    }

    /// CLUSTER NODES: a line per member, each a master of the slots of the groups it leads.
    private var nodesText: String {
        let shards = shards
        return host.addressBook.members.sorted().compactMap { node -> String? in
            guard let endpoint = endpoint(of: node) else { return nil }
            let flags = node == host.configuration.node ? "myself,master" : "master"
            let slots = shards.filter { $0.leader == node }.flatMap(\.slots).map { range in
                range.count == 1 ? "\(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound)"
            }
            let fields =
                [endpoint.id, "\(endpoint.host):\(endpoint.port)@0", flags, "-", "0", "0", "0", "connected"] + slots
            return fields.joined(separator: " ")
        }.joined(separator: "\n") + "\n"
    }
}
