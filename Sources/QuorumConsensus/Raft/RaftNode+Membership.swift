/// Membership: one server at a time, in force once appended (thesis §4.1), with learners that catch up
/// before they vote.
extension RaftNode {
    /// Index of the entry that introduced the configuration in force.
    var configurationIndex: LogIndex { configurations[configurations.count - 1].index }

    package func configuration(at index: LogIndex) -> Configuration {
        configurations.last { $0.index <= index }!.configuration
    }

    /// The configuration in force at the commit index, with the index of the entry that introduced it. Unlike
    /// `configuration` (in force once appended), no new leader can roll it back.
    public var committedConfiguration: (index: LogIndex, configuration: Configuration) {
        configurations.last { $0.index <= log.commitIndex }!
    }

    public mutating func proposeConfigurationChange(_ change: ConfigurationChange) throws(ProposalError)
        -> ProposalTicket
    {
        try ensureLeaderAcceptingProposals()
        guard pendingConfigurationIndex <= log.commitIndex || options.injectedBug == .twoMembershipChangesInFlight
        else {
            throw log.term(at: log.commitIndex) == term ? .configurationChangePending : .leaderNotReady
        }
        if let reason = configuration.refusal(of: change) { throw .invalidConfigurationChange(reason) }
        return appendAsLeader(.configurationChange(change))
    }

    /// Adds the configuration that `change` produces. Every node runs the same checks on the same log, so an
    /// invalid change (which a leader never proposes) is skipped identically everywhere.
    mutating func recordConfigurationChange(_ change: ConfigurationChange, at index: LogIndex) {
        guard configuration.refusal(of: change) == nil else { return }
        configurations.append((index, configuration.applying(change)))
        if role == .leader { rebuildProgress() }
    }

    /// Recomputes the configurations after the log changed past `index` (an append that may have truncated).
    mutating func reloadConfigurations(after index: LogIndex) {
        while configurations.count > 1 && configurations[configurations.count - 1].index > index {
            configurations.removeLast()
        }
        var position = index.advanced(by: 1)
        while position <= log.lastIndex {
            if case .configurationChange(let change) = log.entry(at: position).kind {
                recordConfigurationChange(change, at: position)
            }
            position = position.advanced(by: 1)
        }
    }

    /// Drops configurations superseded before `base`, keeping the one in force there.
    mutating func forgetConfigurations(before base: LogIndex) {
        guard let inForce = configurations.lastIndex(where: { $0.index <= base }), inForce > 0 else { return }
        configurations.removeFirst(inForce)
    }

    /// Tracks exactly the members of the configuration in force, new ones probed from the end of the log.
    mutating func rebuildProgress() {
        let members = configuration.members.subtracting([id])
        for peer in progress.keys where !members.contains(peer) { progress[peer] = nil }
        for peer in members where progress[peer] == nil {
            progress[peer] = Progress(
                nextIndex: log.lastIndex.advanced(by: 1),
                inflights: Inflights(messagesMax: options.maxInflightAppends, bytesMax: options.maxInflightBytes))
        }
    }

    /// Promotes one learner that joined to become a voter, once it has caught up with the commit index, so
    /// that adding it can never leave the cluster waiting for a slow newcomer to form a quorum.
    mutating func maybePromoteLearners() {
        guard role == .leader, leadershipTransferTarget == nil, pendingConfigurationIndex <= log.commitIndex else {
            return
        }
        for learner in configuration.learnersToPromote.sorted() {
            guard let learnerProgress = progress[learner] else { continue }
            if learnerProgress.matchIndex.advanced(by: options.promotionLagMax) >= log.commitIndex {
                _ = appendAsLeader(.configurationChange(.promote(learner)))
                return
            }
        }
    }
}
