import QuorumClient
import QuorumConsensus
import QuorumWire
import Synchronization

/// Injects a `FaultSchedule` into a `ChaosCluster`, one fault after another, and counts what it injected.
final class FaultInjector: Sendable {
    private let cluster: ChaosCluster
    private let history: ChaosHistory
    private let progress: @Sendable (String) -> Void
    private let counts = Mutex<(injected: [FaultKind: Int], notInjected: [String])>(([:], []))
    /// The node each membership change under way added.
    private let sparesAdded = Mutex<[ScheduledFault: Int]>([:])
    /// Nodes added by a membership change that could not be removed again, even once every fault had healed.
    private let sparesLeft = Mutex<[String]>([])
    private let sparesPromoted = Mutex(0)
    /// For each full disk under way, the size of its node's log when the disk was filled.
    private let fullDiskLogOffsets = Mutex<[ScheduledFault: UInt64]>([:])

    /// What a node's log says when it meets its full disk, and when it serves again without a restart.
    static let diskFullNotice = "disk is full"
    static let diskFreedNotice = "storage reopened after the disk filled up"

    init(cluster: ChaosCluster, history: ChaosHistory, progress: @escaping @Sendable (String) -> Void) {
        self.cluster = cluster
        self.history = history
        self.progress = progress
    }

    var injected: [FaultKind: Int] { counts.withLock { $0.injected } }
    /// Faults the schedule asked for that could not be injected, and why.
    var notInjected: [String] { counts.withLock { $0.notInjected } }
    /// Added nodes the cluster would not remove once healed: a failure of the run, since a healthy cluster must.
    var notRemoved: [String] { sparesLeft.withLock { $0 } }
    /// Added nodes that had caught up and been promoted to voter by the time their removal was asked for.
    var promoted: Int { sparesPromoted.withLock { $0 } }

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

    /// The clients' links to every member.
    private var clientLinks: [Link] { cluster.members.map { .clients(to: $0.id) } }

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
        case .clientLinks:
            let faults = LinkFaults(delayMilliseconds: fault.magnitude, dropPerMille: FaultKind.clientLinkDropsPerMille)
            for link in clientLinks { await proxy.set(faults, on: link) }
        case .kill:
            cluster.kill(fault.node)
        case .pause:
            cluster.pause(fault.node)
        case .leadershipTransfer:
            // An election may be under way (a fault is, too, half the time): ask again while the fault lasts.
            return await askLeader(untilMilliseconds: fault.startMilliseconds + fault.durationMilliseconds) {
                await self.transferLeadership(preferring: fault.node, through: $0)
            }
        case .membershipChange:
            return await addSpare(for: fault)
        case .diskFull:
            let offset = cluster.logSize(of: fault.node)
            fullDiskLogOffsets.withLock { $0[fault] = offset }
            do {
                if try await !cluster.fillDisk(fault.node) { return "node \(fault.node) has no file system of its own" }
            } catch {
                return "filling node \(fault.node)'s file system failed: \(error)"
            }
        }
        return nil
    }

    /// Runs `request` through a client of the cluster until it succeeds (returns nil) or the time is past; returns
    /// the last failure.
    private func askLeader(
        untilMilliseconds deadline: Int, _ request: @escaping (QuorumClient) async -> String?
    ) async -> String? {
        let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(1))
        var failure = await request(client)
        while failure != nil && history.now < UInt64(deadline) * 1_000 {
            try? await Task.sleep(for: .milliseconds(100))
            failure = await request(client)
        }
        await client.close()
        return failure
    }

    /// Adds a node the cluster has not seen (asking while the fault lasts), then starts it with `--join`. Even when
    /// no answer said the addition was made, it may have been: the heal removes the node either way.
    private func addSpare(for fault: ScheduledFault) async -> String? {
        let spare: ChaosCluster.Member
        do { spare = try cluster.reserveSpare() } catch { return "no free port for a new node: \(error)" }
        sparesAdded.withLock { $0[fault] = spare.id }
        let failure = await askLeader(untilMilliseconds: fault.startMilliseconds + fault.durationMilliseconds / 2) {
            do {
                try await $0.addMember(NodeID(UInt64(spare.id)), address: spare.address)
                return nil
            } catch {
                return "\(error)".contains("is already a member") ? nil : "adding node \(spare.id) failed: \(error)"
            }
        }
        guard failure == nil else { return failure }
        do { try await cluster.startSpare(spare.id) } catch { return "node \(spare.id) did not start: \(error)" }
        return nil
    }

    /// Removes spare `id` from the cluster, asking for up to `seconds`, and stops it; a spare the cluster would not
    /// remove keeps running, so that the cluster is not left with a dead voter.
    private func removeSpare(_ id: Int, seconds: Int) async -> String? {
        let deadline = Int(history.now / 1_000) + seconds * 1_000
        let wasVoter = await isVoter(id)
        let failure = await askLeader(untilMilliseconds: deadline) {
            do {
                try await $0.removeMember(NodeID(UInt64(id)))
                return nil
            } catch {
                return "\(error)".contains("is not a member") ? nil : "removing node \(id) failed: \(error)"
            }
        }
        if failure == nil {
            cluster.stopSpare(id)
            if wasVoter { sparesPromoted.withLock { $0 += 1 } }
        }
        return failure
    }

    /// Whether the first member that knows a leader counts node `id` among the voters.
    private func isVoter(_ id: Int) async -> Bool {
        let client = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(1))
        var status: NodeStatus?
        for endpoint in cluster.clientEndpoints where status == nil {
            status = try? await client.status(of: endpoint)
            if status?.leader == nil { status = nil }
        }
        await client.close()
        return status?.voters.contains(NodeID(UInt64(id))) ?? false
    }

    /// Undoes whatever is still in force: every link healed, every node running.
    func healEverything() async {
        await cluster.proxy.healAll()
        for member in cluster.members { cluster.freeDisk(member.id) }
        for id in cluster.spareIDs {
            if let failure = await removeSpare(id, seconds: 60) {
                sparesLeft.withLock {
                    $0.append("node \(id), added by a membership change, was not removed: \(failure)")
                }
            }
        }
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
        case .diskFull:
            // A node meets its full disk only when it writes a new file (a snapshot, a log segment), not while it
            // fills its preallocated segment: the disk stays full until the node has said so, for up to 10 s more,
            // so that the fault bites however slow the run. Then the fault lasts until the node serves again.
            let offset = fullDiskLogOffsets.withLock { $0.removeValue(forKey: fault) } ?? 0
            await waitUntil(node: fault.node, says: Self.diskFullNotice, after: offset)
            cluster.freeDisk(fault.node)
            await waitUntil(node: fault.node, says: Self.diskFreedNotice, after: offset)
        case .membershipChange:
            guard let id = sparesAdded.withLock({ $0.removeValue(forKey: fault) }) else { break }
            if let failure = await removeSpare(id, seconds: 10) {
                progress("node \(id) stays until every fault has healed: \(failure)")
            }
        case .oneWayPartition:
            await cluster.proxy.set(LinkFaults(), on: oneWayLink(of: fault))
        case .clientLinks:
            for link in clientLinks { await cluster.proxy.set(LinkFaults(), on: link) }
        default:
            for link in links(of: fault.node) { await cluster.proxy.set(LinkFaults(), on: link) }
        }
    }

    /// Reads node `node`'s log every 100 ms until it says `text` after `offset`, for at most 10 s.
    private func waitUntil(node: Int, says text: String, after offset: UInt64) async {
        let deadline = history.now + 10_000_000
        while !cluster.log(of: node, says: text, after: offset) && history.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Asks the leader to hand over to `node`, or to the next node if `node` leads already.
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
