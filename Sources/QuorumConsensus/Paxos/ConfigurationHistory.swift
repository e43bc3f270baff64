/// Which configuration governs each slot of a Multi-Paxos log: a change chosen at slot s governs the slots from
/// s + α on, α being `PaxosOptions.configurationDelaySlots` (the α-window of Lamport, Malkhi and Zhou's "Reconfiguring
/// a State Machine"). A proposer never opens a slot at or past (first unchosen slot) + α, so the configuration of any
/// slot it opens depends only on slots it knows are chosen: every node that knows the chosen prefix agrees on it.
///
/// Changes apply in slot order, each to the configuration the previous ones produced; one that is invalid there (a
/// correct leader never proposes it) is skipped, identically on every node, as Raft's are.
struct ConfigurationHistory: Sendable {
    struct Epoch: Sendable {
        /// The first slot this configuration governs.
        var firstSlot: LogIndex
        var configuration: Configuration
        /// The slot of the change that produced it; for the first epoch, the snapshot's index (or 0).
        var changeSlot: LogIndex
    }

    /// In slot order; the first governs every slot before the second's.
    private(set) var epochs: [Epoch]
    let delay: Int

    init(base: Configuration, changeSlot: LogIndex, delay: Int) {
        precondition(delay >= 1, "a change cannot govern its own slot")
        epochs = [Epoch(firstSlot: .zero, configuration: base, changeSlot: changeSlot)]
        self.delay = delay
    }

    /// The configuration every change so far produces: it governs the slots from its epoch's first slot on.
    var newest: Epoch { epochs[epochs.count - 1] }

    func epoch(at slot: LogIndex) -> Epoch { epochs.last { $0.firstSlot <= slot }! }
    func configuration(at slot: LogIndex) -> Configuration { epoch(at: slot).configuration }

    /// The configurations governing `slot` and every later slot, each with the range it governs from `slot` on (the
    /// last range open-ended).
    func epochs(from slot: LogIndex) -> [(first: LogIndex, last: LogIndex?, configuration: Configuration)] {
        var result: [(LogIndex, LogIndex?, Configuration)] = []
        for (position, epoch) in epochs.enumerated() {
            let next = position + 1 < epochs.count ? epochs[position + 1].firstSlot : nil
            if let next, next <= slot { continue }
            result.append((max(epoch.firstSlot, slot), next.map { $0.advanced(by: -1) }, epoch.configuration))
        }
        return result
    }

    /// Whether `nodes` include a majority of the voters of every configuration governing a slot from `slot` on:
    /// what a ballot needs for its promises, and a leader for its reads and its quorum check.
    func isQuorum(_ nodes: Set<NodeID>, forSlotsFrom slot: LogIndex) -> Bool {
        epochs(from: slot).allSatisfy { $0.configuration.voters.intersection(nodes).count >= $0.configuration.quorumSize }
    }

    /// Whether some configuration governing a slot from `slot` on can no longer gather a majority without `refusing`.
    func isBlocked(by refusing: Set<NodeID>, forSlotsFrom slot: LogIndex) -> Bool {
        epochs(from: slot).contains {
            $0.configuration.voters.subtracting(refusing).count < $0.configuration.quorumSize
        }
    }

    /// Every node that votes or learns in a configuration governing a slot from `slot` on.
    func members(forSlotsFrom slot: LogIndex) -> Set<NodeID> {
        epochs(from: slot).reduce(into: Set<NodeID>()) { $0.formUnion($1.configuration.members) }
    }

    /// Applies the change found at `slot`, later than every change recorded.
    mutating func record(_ change: ConfigurationChange, at slot: LogIndex) {
        precondition(slot > newest.changeSlot, "changes recorded out of slot order")
        guard newest.configuration.refusal(of: change) == nil else { return }
        epochs.append(
            Epoch(firstSlot: slot.advanced(by: delay), configuration: newest.configuration.applying(change), changeSlot: slot))
    }

    /// Forgets the changes at `slot` and after (their slots changed).
    mutating func forgetChanges(from slot: LogIndex) {
        while epochs.count > 1 && newest.changeSlot >= slot { epochs.removeLast() }
    }

    /// Forgets epochs that govern no slot from `slot` on.
    mutating func forgetEpochs(before slot: LogIndex) {
        while epochs.count > 1 && epochs[1].firstSlot <= slot { epochs.removeFirst() }
    }

    /// Whether a change is still in flight after `chosen`: some slot before the one the newest change takes effect at
    /// is not chosen yet, so slots under the previous configuration are still open.
    func isChangeInFlight(chosenThrough chosen: LogIndex) -> Bool {
        newest.firstSlot > chosen.advanced(by: 1)
    }

    /// Whether every change at or before `slot` governs every slot after it: a snapshot through `slot` then records
    /// the configuration of every later slot, and none of the α-window is lost with the slots it compacts.
    func isSettled(through slot: LogIndex) -> Bool {
        epochs.last { $0.changeSlot <= slot }.map { $0.firstSlot <= slot.advanced(by: 1) } ?? true
    }
}

extension Entry {
    var configurationChange: ConfigurationChange? {
        if case .configurationChange(let change) = kind { change } else { nil }
    }
}
