import QuorumConsensus

/// Multi-Paxos membership, checked on every leader after every event: the configuration it uses for a slot is the one
/// the chosen values prescribe, the founding configuration with every change chosen at or before (slot − α) applied
/// in slot order (an invalid one skipped). That is what keeps a slot's configuration the same for every leader that
/// ever works on it, so that a phase-1 majority meets the majority that accepted a chosen value; a change that took
/// effect early would make it depend on a slot not yet chosen, which a later leader may fill otherwise.
///
/// The prescribed configuration is worked out from the chosen values the safety checker learned; a slot whose
/// configuration depends on values not learned yet is not checked.
final class PaxosConfigurationChecker {
    private let delay: Int
    /// The prescribed configurations, each with the first slot it governs.
    private var epochs: [(firstSlot: LogIndex, configuration: Configuration)]
    /// Every chosen value through here was read.
    private var readThrough: LogIndex = 0

    /// For a Multi-Paxos world (one group's, in a world of several); nil for a Raft world.
    init?(world options: SimulationOptions) {
        guard options.consensus == .paxos else { return nil }
        self.delay = options.paxosConfigurationDelay
        self.epochs = [(.zero, options.paxosOptions(for: NodeID(1), incarnation: 0).initialConfiguration)]
    }

    /// Checks the configurations `leader` uses for its first unchosen slot and for the next slot it opens.
    func check(leader: SelectedEngine, chosenValue: (LogIndex) -> Entry?) -> String? {
        readChosen(chosenValue)
        let firstOpen = leader.commitIndex.advanced(by: 1)
        let nextSlot = leader.lastIndex.advanced(by: 1)
        for slot in Set([firstOpen, nextSlot]).sorted() where slot.rawValue <= readThrough.rawValue + UInt64(delay) {
            let prescribed = epochs.last { $0.firstSlot <= slot }!.configuration
            guard let used = leader.configuration(at: slot), used != prescribed else { continue }
            return "membership: \(leader.id) works on slot \(slot) with \(used), but the chosen values prescribe "
                + "\(prescribed) (a change governs the slots α = \(delay) after its own)"
        }
        return nil
    }

    private func readChosen(_ chosenValue: (LogIndex) -> Entry?) {
        while let value = chosenValue(readThrough.advanced(by: 1)) {
            readThrough = value.index
            guard case .configurationChange(let change) = value.kind else { continue }
            let newest = epochs[epochs.count - 1].configuration
            if newest.refusal(of: change) == nil {
                epochs.append((value.index.advanced(by: delay), newest.applying(change)))
            }
        }
    }
}
