import QuorumClient
import QuorumConsensus
import Synchronization

/// Injects a `FaultSchedule` into a `ChaosCluster`, one fault after another, and counts what it injected.
final class FaultInjector: Sendable {
    private let cluster: ChaosCluster
    private let history: ChaosHistory
    private let progress: @Sendable (String) -> Void
    private let counts = Mutex<(injected: [FaultKind: Int], notInjected: [String])>(([:], []))

    init(cluster: ChaosCluster, history: ChaosHistory, progress: @escaping @Sendable (String) -> Void) {
        self.cluster = cluster
        self.history = history
        self.progress = progress
    }

    var injected: [FaultKind: Int] { counts.withLock { $0.injected } }
    /// Faults the schedule asked for that could not be injected, and why.
    var notInjected: [String] { counts.withLock { $0.notInjected } }

    func run(_ schedule: FaultSchedule) async {
        for fault in schedule.faults {
            await sleep(untilMilliseconds: fault.startMilliseconds)
            let injected = await inject(fault)
            counts.withLock {
                if let failure = injected { $0.notInjected.append("\(fault): \(failure)") } else { $0.injected[fault.kind, default: 0] += 1 }
            }
            progress(injected.map { "not injected: \(fault): \($0)" } ?? "injected \(fault)")
            await sleep(untilMilliseconds: fault.startMilliseconds + fault.durationMilliseconds)
            await heal(fault)
        }
    }

    /// The schedule's times are the schedule's, not the machine's: waiting for them is the point.
    private func sleep(untilMilliseconds milliseconds: Int) async {
        let now = history.now
        let target = UInt64(milliseconds) * 1_000
        if target > now { try? await Task.sleep(for: .microseconds(target - now)) }
    }

    /// Every link to and from `node`.
    private func links(of node: Int) -> [Link] {
        cluster.members.map(\.id).filter { $0 != node }.flatMap { [Link(from: node, to: $0), Link(from: $0, to: node)] }
    }

    /// Injects `fault`; returns why it could not, or nil.
    private func inject(_ fault: ScheduledFault) async -> String? {
        let proxy = cluster.proxy
        switch fault.kind {
        case .partition:
            for link in links(of: fault.node) { await proxy.set(LinkFaults(cut: .drop), on: link) }
        case .silentPartition:
            for link in links(of: fault.node) { await proxy.set(LinkFaults(cut: .hold), on: link) }
        case .oneWayPartition:
            await proxy.set(LinkFaults(cut: .drop), on: Link(from: fault.node, to: fault.peer ?? fault.node % cluster.members.count + 1))
        case .delay:
            for link in links(of: fault.node) { await proxy.set(LinkFaults(delayMilliseconds: fault.magnitude), on: link) }
        case .connectionDrops:
            for link in links(of: fault.node) { await proxy.set(LinkFaults(dropPerMille: fault.magnitude), on: link) }
        case .bandwidthLimit:
            for link in links(of: fault.node) { await proxy.set(LinkFaults(bytesPerSecond: fault.magnitude), on: link) }
        case .kill:
            cluster.kill(fault.node)
        case .pause:
            cluster.pause(fault.node)
        case .leadershipTransfer:
            return await transferLeadership(preferring: fault.node)
        }
        return nil
    }

    /// Undoes whatever is still in force: every link healed, every node running.
    func healEverything() async {
        await cluster.proxy.healAll()
        for member in cluster.members {
            cluster.resume(member.id)
            if !cluster.isRunning(member.id) {
                do { try await cluster.start(member.id) } catch { progress("could not restart node \(member.id): \(error)") }
            }
        }
    }

    private func heal(_ fault: ScheduledFault) async {
        switch fault.kind {
        case .kill:
            do { try await cluster.start(fault.node) } catch { progress("could not restart node \(fault.node): \(error)") }
        case .pause:
            cluster.resume(fault.node)
        case .leadershipTransfer:
            break
        default:
            await cluster.proxy.healAll()
        }
    }

    /// Asks the leader to hand over to `node`, or to the next node if `node` leads already.
    private func transferLeadership(preferring node: Int) async -> String? {
        let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(1))
        let failure = await transferLeadership(preferring: node, through: client)
        await client.close()
        return failure
    }

    private func transferLeadership(preferring node: Int, through client: QuorumClient) async -> String? {
        var leader: NodeID?
        for endpoint in cluster.clientEndpoints where leader == nil {
            leader = try? await client.status(of: endpoint).leader
        }
        guard let leader else { return "no node knew a leader" }
        let target = leader.rawValue == UInt64(node) ? node % cluster.members.count + 1 : node
        do {
            try await client.transferLeadership(to: NodeID(UInt64(target)))
            return nil
        } catch {
            return "the leader, node \(leader.rawValue), refused to hand over to node \(target): \(error)"
        }
    }
}
