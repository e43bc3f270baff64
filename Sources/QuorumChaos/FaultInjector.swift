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

    /// Injects and heals the faults at their times, one action at a time (faults may overlap; actions do not).
    func run(_ schedule: FaultSchedule) async {
        let actions = schedule.faults.flatMap { fault in
            [
                (at: fault.startMilliseconds, fault: fault, heals: false),
                (at: fault.startMilliseconds + fault.durationMilliseconds, fault: fault, heals: true),
            ]
        }
        // At equal times a heal goes first, so a fault never starts on top of the one ending then.
        for action in actions.sorted(by: { ($0.at, $0.heals ? 0 : 1) < ($1.at, $1.heals ? 0 : 1) }) {
            await sleep(untilMilliseconds: action.at)
            if action.heals {
                await heal(action.fault)
                continue
            }
            let failure = await inject(action.fault)
            counts.withLock {
                if let failure {
                    $0.notInjected.append("\(action.fault): \(failure)")
                } else {
                    $0.injected[action.fault.kind, default: 0] += 1
                }
            }
            progress(failure.map { "not injected: \(action.fault): \($0)" } ?? "injected \(action.fault)")
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
        cluster.members.map(\.id).filter { $0 != node }.flatMap {
            [Link(from: node, to: $0), Link(from: $0, to: node)]
        }
    }

    private func oneWayLink(of fault: ScheduledFault) -> Link {
        Link(from: fault.node, to: fault.peer ?? fault.node % cluster.members.count + 1)
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
            await proxy.set(LinkFaults(cut: .drop), on: oneWayLink(of: fault))
        case .delay:
            for link in links(of: fault.node) {
                await proxy.set(LinkFaults(delayMilliseconds: fault.magnitude), on: link)
            }
        case .connectionDrops:
            for link in links(of: fault.node) { await proxy.set(LinkFaults(dropPerMille: fault.magnitude), on: link) }
        case .bandwidthLimit:
            for link in links(of: fault.node) { await proxy.set(LinkFaults(bytesPerSecond: fault.magnitude), on: link) }
        case .kill:
            cluster.kill(fault.node)
        case .pause:
            cluster.pause(fault.node)
        case .leadershipTransfer:
            // An election may be under way (a fault is, too, half the time): ask again while the fault lasts.
            var failure = await transferLeadership(preferring: fault.node)
            while failure != nil && history.now < UInt64(fault.startMilliseconds + fault.durationMilliseconds) * 1_000 {
                try? await Task.sleep(for: .milliseconds(100))
                failure = await transferLeadership(preferring: fault.node)
            }
            return failure
        }
        return nil
    }

    /// Undoes whatever is still in force: every link healed, every node running.
    func healEverything() async {
        await cluster.proxy.healAll()
        for member in cluster.members {
            cluster.resume(member.id)
            if !cluster.isRunning(member.id) {
                do { try await cluster.start(member.id) } catch {
                    progress("could not restart node \(member.id): \(error)")
                }
            }
        }
    }

    private func heal(_ fault: ScheduledFault) async {
        switch fault.kind {
        case .kill:
            do { try await cluster.start(fault.node) } catch {
                progress("could not restart node \(fault.node): \(error)")
            }
        case .pause:
            cluster.resume(fault.node)
        case .leadershipTransfer:
            break
        case .oneWayPartition:
            await cluster.proxy.set(LinkFaults(), on: oneWayLink(of: fault))
        default:
            for link in links(of: fault.node) { await cluster.proxy.set(LinkFaults(), on: link) }
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
            return "asking the leader, node \(leader.rawValue), to hand over to node \(target) failed: \(error)"
        }
    }
}
