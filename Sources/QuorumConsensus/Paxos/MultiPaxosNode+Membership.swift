import DequeModule

/// Membership: a change is a value chosen in a slot s and governs the slots from s + α on (`ConfigurationHistory`). A
/// leader opens slots only below (first unchosen slot) + α, so every slot it opens has a configuration fixed by chosen
/// slots; values proposed past that wait (`waitingForWindow`). One change at a time: the next is refused until every
/// slot under the previous configuration is chosen. Learners receive every accept and count towards no quorum; a
/// learner that joined to vote is promoted once caught up. A leader that removed itself hands over once the removal is
/// in force.
extension MultiPaxosNode {
    public mutating func proposeConfigurationChange(_ change: ConfigurationChange) throws(ProposalError)
        -> ProposalTicket
    {
        try ensureLeaderAcceptingProposals()
        guard !configurations.isChangeInFlight(chosenThrough: log.commitIndex) else { throw .configurationChangePending }
        if let reason = configuration.refusal(of: change) { throw .invalidConfigurationChange(reason) }
        return proposeAsLeader(.configurationChange(change))
    }

    /// Proposes a value in the next free slot, accepted here first once the window admits it. The accepts go out with
    /// the next `ready()`, so that a burst of proposals shares messages.
    mutating func proposeAsLeader(_ kind: Entry.Kind) -> ProposalTicket {
        precondition(role == .leader, "only a leader proposes")
        let slot = (waitingForWindow.last?.index ?? log.lastIndex).advanced(by: 1)
        let value = Entry(term: promised.round, index: slot, kind: kind)
        waitingForWindow.append(value)
        if let change = value.configurationChange {
            configurations.record(change, at: slot)
            trackMembers()
        }
        openWindow()
        return ProposalTicket(index: value.index, term: value.term)
    }

    /// Accepts here the waiting values whose slots the window now admits; then, while a change is in flight and
    /// nothing waits, fills the slots the previous configuration still governs with no-ops, so that the change takes
    /// effect (and the next may be proposed) without waiting for traffic.
    mutating func openWindow() {
        let windowEnd = log.commitIndex.advanced(by: options.configurationDelaySlots - 1)
        while let value = waitingForWindow.first, value.index <= windowEnd {
            waitingForWindow.removeFirst()
            log.set(SlotRecord(round: promised.round, value: value), at: value.index)
            needsBroadcast = true
        }
        guard waitingForWindow.isEmpty, configurations.isChangeInFlight(chosenThrough: log.commitIndex) else { return }
        let lastUnderPrevious = min(configurations.newest.firstSlot.advanced(by: -1), windowEnd)
        while log.lastIndex < lastUnderPrevious {
            let slot = log.lastIndex.advanced(by: 1)
            log.set(SlotRecord(round: promised.round, value: Entry(term: promised.round, index: slot, kind: .noop)), at: slot)
            needsBroadcast = true
        }
    }

    /// Stores what this acceptor accepted at `slot`, keeping the configurations in step when a change is stored there
    /// or displaced from there.
    mutating func store(_ record: SlotRecord, at slot: LogIndex) {
        let displacesChange = log.record(at: slot)?.value?.configurationChange != nil
        log.set(record, at: slot)
        if displacesChange || record.value?.configurationChange != nil { rebuildConfigurations(from: slot) }
    }

    /// Recomputes the configurations from the changes held at `slot` and after.
    mutating func rebuildConfigurations(from slot: LogIndex) {
        configurations.forgetChanges(from: slot)
        var position = max(slot, log.firstIndex)
        while position <= log.lastIndex {
            if let change = log.record(at: position)?.value?.configurationChange {
                configurations.record(change, at: position)
            }
            position = position.advanced(by: 1)
        }
        for value in waitingForWindow {
            if let change = value.configurationChange { configurations.record(change, at: value.index) }
        }
    }

    /// Drops a leader's waiting values, and any change among them.
    mutating func dropWaitingValues() {
        guard let first = waitingForWindow.first else { return }
        waitingForWindow.removeAll()
        configurations.forgetChanges(from: first.index)
    }

    /// Tracks the progress of every member of a configuration governing an open slot (learners too): new ones are
    /// probed, and those no open slot needs any more are dropped.
    mutating func trackMembers() {
        let members = configurations.members(forSlotsFrom: log.commitIndex.advanced(by: 1)).subtracting([id])
        for peer in peers.keys where !members.contains(peer) { peers[peer] = nil }
        for peer in members.sorted() where peers[peer] == nil {
            peers[peer] = PeerProgress(matchIndex: 0, nextIndex: log.lastIndex.advanced(by: 1), pace: .unknown)
        }
    }

    /// Promotes one learner that joined to vote, once it has caught up, so that adding it never leaves the group
    /// waiting for a slow newcomer to form a quorum.
    mutating func maybePromoteLearners() {
        guard role == .leader, transferTarget == nil, isVoter,
            !configurations.isChangeInFlight(chosenThrough: log.commitIndex)
        else { return }
        for learner in configuration.learnersToPromote.sorted() {
            guard let progress = peers[learner], progress.matchIndex.advanced(by: options.promotionLagMax) >= log.commitIndex
            else { continue }
            _ = proposeAsLeader(.configurationChange(.promote(learner)))
            return
        }
    }

    /// A leader that is no voter of its first unchosen slot's configuration (it removed itself, and every slot it
    /// voted in is chosen) asks the most advanced voter of that configuration to take over, and steps down.
    mutating func stepAsideIfRemoved() {
        guard role == .leader else { return }
        let governing = configurations.configuration(at: log.commitIndex.advanced(by: 1))
        guard !governing.voters.contains(id) else { return }
        let successor = governing.voters.compactMap { voter in peers[voter].map { (voter, $0.matchIndex) } }
            .max { ($0.1, $1.0) < ($1.1, $0.0) }?.0
        if let successor { send(.timeoutNow, to: successor, round: promised.round) }
        stepDown(leader: nil)
    }
}
