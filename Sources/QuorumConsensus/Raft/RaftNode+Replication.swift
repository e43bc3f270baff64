/// Log replication: appends with pipelining, batching and flow control, fast backtracking, commit, and
/// snapshots for followers that fell behind the compacted log (Raft §5.3, §5.4, §7).
extension RaftNode {
    /// Appends an entry as leader. The broadcast waits for the next `ready()` so that bursts share messages.
    mutating func appendAsLeader(_ kind: Entry.Kind) -> ProposalTicket {
        precondition(role == .leader, "only a leader appends its own entries")
        let entry = Entry(term: term, index: log.lastIndex.advanced(by: 1), kind: kind)
        log.append(entry)
        if case .configurationChange(let change) = kind {
            pendingConfigurationIndex = entry.index
            recordConfigurationChange(change, at: entry.index)
        }
        needsBroadcast = true
        idleTicks = 0
        // A lone voter commits as soon as its own write is durable; `acknowledge` takes care of that.
        return ProposalTicket(index: entry.index, term: term)
    }

    /// Sends each follower what it lacks. With `sendIfEmpty`, an idle follower gets an empty append carrying the
    /// commit index; one with appends in flight learns it from their successors instead.
    mutating func broadcastAppend(sendIfEmpty: Bool) {
        for peer in progress.keys.sorted() {
            sendAppend(to: peer, sendIfEmpty: sendIfEmpty && progress[peer]!.inflights.count == 0)
        }
    }

    mutating func broadcastHeartbeat() {
        // Every round gets a context of its own, so that an answer says which round (and so which moment) it saw.
        reads.latestContext += 1
        let context = reads.latestContext
        lease.sent(round: context, at: ticks, keepingTicks: UInt64(options.electionTimeoutTicks))
        for peer in progress.keys.sorted() {
            let matched = options.injectedBug == .heartbeatCommitsUnmatchedEntries ? log.commitIndex : progress[peer]!.matchIndex
            let commit = min(matched, log.commitIndex)
            send(.heartbeat(commitIndex: commit, readContext: context), to: peer)
        }
    }

    /// Sends the follower what it lacks, if flow control allows: entries in one batch, or the snapshot when
    /// the entries it needs were compacted away.
    mutating func sendAppend(to peer: NodeID, sendIfEmpty: Bool) {
        guard var peerProgress = progress[peer], !peerProgress.isPaused else { return }
        defer { progress[peer] = peerProgress }
        let previousIndex = peerProgress.nextIndex.advanced(by: -1)
        guard let previousTerm = log.term(at: previousIndex) else {
            guard let snapshot = latestSnapshot else { preconditionFailure("log compacted without a snapshot") }
            send(.installSnapshot(snapshot), to: peer)
            peerProgress.becomeSnapshot(at: snapshot.lastIncludedIndex)
            return
        }
        let lastToSend = min(log.lastIndex, previousIndex.advanced(by: options.maxEntriesPerAppend))
        let entries = log.entries(
            from: peerProgress.nextIndex, through: lastToSend, bytesMax: options.maxBytesPerAppend)
        if entries.isEmpty && !sendIfEmpty { return }
        let append = AppendEntries(
            previousIndex: previousIndex, previousTerm: previousTerm, entries: entries, leaderCommit: log.commitIndex)
        let message = Message(from: id, to: peer, term: term, payload: .appendEntries(append))
        send(message.payload, to: peer)
        peerProgress.sent(lastIndex: entries.last?.index ?? previousIndex, bytes: message.sizeInBytes)
    }

    mutating func handleAppendEntries(_ append: AppendEntries, from leader: NodeID) throws(StepError) {
        if role != .follower { becomeFollower(term: term, leader: leader) }
        leaderHint = leader
        electionElapsed = 0
        var previousIndex = append.previousIndex
        var previousTerm = append.previousTerm
        var entries = append.entries
        if previousIndex < log.commitIndex {
            // Every leader's log holds our committed prefix (Leader Completeness), so entries there must agree
            // with ours; only what lies beyond needs appending. Stale or duplicated appends are thus harmless.
            if let known = log.term(at: previousIndex), known != previousTerm {
                throw .protocolViolation("\(leader) claims \(previousIndex)@\(previousTerm); committed here is @\(known)")
            }
            for entry in entries where entry.index <= log.commitIndex {
                if let known = log.term(at: entry.index), known != entry.term {
                    throw .protocolViolation("\(leader) sent \(entry) over committed \(entry.index)@\(known)")
                }
            }
            entries.removeAll { $0.index <= log.commitIndex }
            previousIndex = log.commitIndex
            previousTerm = log.term(at: previousIndex) ?? log.baseTerm
            if let first = entries.first, first.term < previousTerm {
                throw .protocolViolation("\(leader) sent \(first) after committed \(previousIndex)@\(previousTerm)")
            }
            if entries.isEmpty {
                send(.appendEntriesResponse(.accepted(matchIndex: log.commitIndex)), to: leader)
                return
            }
        }
        guard log.term(at: previousIndex) == previousTerm else {
            let hintIndex = log.lastIndex(atOrBelow: previousIndex, withTermAtMost: previousTerm)
            let hintTerm = log.term(at: hintIndex) ?? log.baseTerm
            send(
                .appendEntriesResponse(
                    .rejected(rejectedIndex: previousIndex, hintIndex: hintIndex, hintTerm: hintTerm)),
                to: leader)
            return
        }
        guard let lastNewIndex = log.appendFromLeader(after: previousIndex, entries) else {
            throw .protocolViolation("\(leader) sent entries that conflict with committed entry \(log.commitIndex)")
        }
        if !entries.isEmpty { reloadConfigurations(after: previousIndex) }
        log.commit(through: min(append.leaderCommit, lastNewIndex))
        send(.appendEntriesResponse(.accepted(matchIndex: lastNewIndex)), to: leader)
    }

    mutating func handleAppendEntriesResponse(_ response: AppendEntriesResponse, from peer: NodeID) throws(StepError) {
        guard role == .leader, progress[peer] != nil else { return }
        if case .accepted(let matchIndex) = response, matchIndex > log.lastIndex {
            throw .protocolViolation("\(peer) acknowledged \(matchIndex), beyond this leader's last entry \(log.lastIndex)")
        }
        progress[peer]!.recentlyActive = true
        switch response {
        case .accepted(let matchIndex):
            guard progress[peer]!.accept(matchIndex: matchIndex) else {
                if case .snapshot = progress[peer]!.state {} else { sendAppend(to: peer, sendIfEmpty: false) }
                return
            }
            switch progress[peer]!.state {
            case .probe: progress[peer]!.becomeReplicate()
            case .snapshot(let snapshotIndex) where matchIndex >= snapshotIndex: progress[peer]!.becomeReplicate()
            case .replicate, .snapshot: break
            }
            maybeCommit()
            guard role == .leader else { return }
            if leadershipTransferTarget == peer && matchIndex == log.lastIndex {
                sendTimeoutNow(to: peer)
            }
            maybePromoteLearners()
            sendAppend(to: peer, sendIfEmpty: false)
        case .rejected(let rejectedIndex, let hintIndex, let hintTerm):
            let matchCandidate = log.lastIndex(atOrBelow: hintIndex, withTermAtMost: hintTerm)
            if progress[peer]!.reject(rejectedIndex: rejectedIndex, nextIndex: matchCandidate.advanced(by: 1)) {
                sendAppend(to: peer, sendIfEmpty: true)
            }
        }
    }

    mutating func handleHeartbeat(commitIndex: LogIndex, context: UInt64, from leader: NodeID) {
        if role != .follower { becomeFollower(term: term, leader: leader) }
        leaderHint = leader
        electionElapsed = 0
        // The leader sends min(our match, its commit), so this prefix is known to match.
        log.commit(through: min(commitIndex, log.lastIndex))
        if context & Message.quiescenceFlag != 0 {
            handleQuiesce(commitIndex: commitIndex, context: context, from: leader)
        } else {
            send(.heartbeatResponse(readContext: context), to: leader)
        }
    }

    mutating func handleHeartbeatResponse(context: UInt64, from peer: NodeID) {
        guard role == .leader, var peerProgress = progress[peer] else { return }
        peerProgress.recentlyActive = true
        // The probe may have been lost; a follower that answers deserves another.
        if case .probe = peerProgress.state { peerProgress.probeSent = false }
        progress[peer] = peerProgress
        // A request to wake (the flag alone) confirms no read; a peer of an older version echoes the flag.
        acknowledgeReads(context: context & ~Message.quiescenceFlag, from: peer)
        // An empty probe finds where a follower stands even when nothing new was proposed (a newcomer).
        if peerProgress.matchIndex < log.lastIndex { sendAppend(to: peer, sendIfEmpty: true) }
    }

    mutating func handleInstallSnapshot(_ snapshot: Snapshot, from leader: NodeID) {
        if role != .follower { becomeFollower(term: term, leader: leader) }
        leaderHint = leader
        electionElapsed = 0
        let index = snapshot.lastIncludedIndex
        let isStale = index <= log.commitIndex
        if isStale && options.injectedBug != .installOlderSnapshot {
            send(.appendEntriesResponse(.accepted(matchIndex: log.commitIndex)), to: leader)
            return
        }
        if !isStale && log.term(at: index) == snapshot.lastIncludedTerm {
            // We already hold the snapshot's last entry: everything before it matches, so just commit.
            log.commit(through: index)
        } else {
            log.restore(snapshot)
            configurations = [(index, snapshot.configuration)]
            latestSnapshot = snapshot
            snapshotToInstall = snapshot
            snapshotRequestOutstanding = false
        }
        send(.appendEntriesResponse(.accepted(matchIndex: index)), to: leader)
    }

    /// Commits the newest entry of the current term stored by a quorum of voters (Raft §5.4.2). A leader's
    /// own entries count only once durable here.
    mutating func maybeCommit() {
        precondition(role == .leader, "only a leader decides commits")
        let counted =
            options.injectedBug == .learnersCountTowardCommit
            ? configuration.voters.union(configuration.learners) : configuration.voters
        var matches = counted.map { $0 == id ? log.stableIndex : progress[$0]?.matchIndex ?? 0 }
        guard !matches.isEmpty else { return }
        matches.sort(by: >)
        let candidate = matches[configuration.quorumSize - 1]
        guard candidate > log.commitIndex, let candidateTerm = log.term(at: candidate) else { return }
        guard candidateTerm == term || options.injectedBug == .commitPreviousTermByCounting else { return }
        log.commit(through: candidate)
        // Tell followers now rather than at the next heartbeat, so they apply (and serve reads) sooner.
        needsCommitBroadcast = true
        releaseReadsWaitingForCommitInTerm()
        if !isVoter && configurationIndex <= log.commitIndex {
            // Our own removal is committed: hand over by falling silent; the others will elect a leader.
            becomeFollower(term: term, leader: nil)
            return
        }
        maybePromoteLearners()
    }
}
