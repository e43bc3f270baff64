/// How a Raft node behaves. `validate()` is called by the engine's initialiser; each refusal is one sentence.
public struct RaftOptions: Sendable {
    /// Ticks a follower waits without hearing from a leader before campaigning; randomised in
    /// `[electionTimeoutTicks, 2 * electionTimeoutTicks)` per election to avoid split votes (Raft §5.2).
    public var electionTimeoutTicks = 10
    public var heartbeatIntervalTicks = 1
    /// Ask for votes without disrupting anyone first, so a node rejoining after a partition cannot depose a
    /// healthy leader by bumping the term (thesis §9.6).
    public var preVote = true
    /// A leader that has not heard from a quorum within an election timeout steps down, and followers that
    /// heard from a leader within one ignore vote requests (thesis §6.2, §4.2.3).
    public var checkQuorum = true
    /// Serve reads from the leader without a heartbeat round while its lease holds: until an election timeout, less
    /// `leaseDriftMarginTicks`, after it *sent* the newest heartbeat round a quorum acknowledged. Followers that heard
    /// it refuse votes for an election timeout from when they did, so no other leader can be elected before then,
    /// provided their ticks do not run faster than the leader's by more than the margin. A transfer revokes the lease
    /// for the rest of the term (its target campaigns without waiting), and with lease reads a node refuses votes for
    /// an election timeout after it starts, since it forgot whom it heard from. Off by default.
    public var leaseReads = false
    /// How much shorter than an election timeout the lease is, to absorb tick rates that differ between nodes: with
    /// the default of a quarter, lease reads stay safe while no node's clock runs a quarter faster than another's.
    public var leaseDriftMarginTicks = 3
    /// Let an idle group stop heartbeating (CockroachDB's quiescence, TiKV's hibernation; see
    /// RaftNode+Quiescence). The host must then run node-level liveness and call `wake()` on quiescent
    /// followers whose leader's node lost it, or they would wait for that leader forever. Off by default.
    public var quiescence = false
    /// Leader ticks with nothing to do before the leader quiesces, so a group between two writes keeps beating.
    public var quiescenceIdleTicks = 3
    public var maxEntriesPerAppend = 256
    public var maxBytesPerAppend = 1 << 20
    /// Flow control per follower: appends in flight, and their bytes.
    public var maxInflightAppends = 64
    public var maxInflightBytes = 16 << 20
    /// Ask the driver for a snapshot once this many entries were applied since the last one.
    public var snapshotIntervalEntries = 10_000
    /// Entries kept behind a snapshot so that slightly lagging followers still get appends, not a snapshot.
    public var entriesRetainedAfterSnapshot = 1_000
    /// A learner joining as a future voter is promoted once it is within this many entries of the leader.
    public var promotionLagMax = 0
    /// The configuration the cluster was founded with: the one in force at index 0, until the log or a snapshot
    /// says otherwise. Every node gives the same one, including a node that joins later (as etcd's
    /// `--initial-cluster`): the log only records changes, so a newcomer replaying it from index 1 needs the
    /// founding members to know the whole configuration. A newcomer is not a voter in it and so never campaigns
    /// before the leader has added it.
    public var initialConfiguration = Configuration(voters: [])
    /// Seeds the generator for election timeouts and the ids of forwarded reads; give each node, and each start of
    /// it, its own: a restarted follower must not reuse the ids a delayed answer to its previous life may carry.
    public var randomSeed: UInt64 = 0
    /// Deliberate bugs, for proving that the simulator catches them. Reachable only inside the package.
    package var injectedBug: InjectedBug?

    public init() {}

    public func validate() throws(OptionsError) {
        if heartbeatIntervalTicks < 1 { throw OptionsError("heartbeat interval must be at least one tick") }
        if electionTimeoutTicks <= heartbeatIntervalTicks {
            throw OptionsError("election timeout must be longer than the heartbeat interval")
        }
        if maxEntriesPerAppend < 1 || maxBytesPerAppend < 1 {
            throw OptionsError("appends must be allowed at least one entry and one byte")
        }
        if maxInflightAppends < 1 || maxInflightBytes < 1 {
            throw OptionsError("flow control must allow at least one append in flight")
        }
        if snapshotIntervalEntries < 1 { throw OptionsError("snapshot interval must be at least one entry") }
        if quiescenceIdleTicks < 1 { throw OptionsError("a leader must be idle at least one tick before it quiesces") }
        if leaseReads && !checkQuorum {
            throw OptionsError("lease reads need checkQuorum, or a deposed leader serves stale reads")
        }
        if leaseReads && !(0..<electionTimeoutTicks).contains(leaseDriftMarginTicks) {
            throw OptionsError("the lease's drift margin must be at least 0 and shorter than the election timeout")
        }
    }
}

public struct OptionsError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Known-wrong behaviours the simulator must catch.
package enum InjectedBug: String, Sendable, CaseIterable {
    /// Grant votes without checking that the candidate's log is at least as up to date (breaks §5.4.1).
    case voteWithoutLogCheck
    /// Commit entries of earlier terms by counting replicas (the Figure 8 bug, §5.4.2).
    case commitPreviousTermByCounting
    /// Heartbeats carry the leader's whole commit index instead of min(commit, follower's match), so a follower
    /// commits entries it holds that the leader never matched (stale ones from an older term).
    case heartbeatCommitsUnmatchedEntries
    /// A quiescent leader answers reads at once, as if it still held a lease, instead of waking for a ReadIndex
    /// round; once its followers are gone and elect another leader, its reads go stale.
    case quiescentLeaderServesReads
    /// Not the engine's: the simulator's shared per-node disk, recovering after a crash, hands one group the
    /// commands another group logged at the same indexes (a record attributed to the wrong group).
    case recoveryMixesGroups
    /// Votes and append acknowledgements leave with the Ready's other messages instead of after its write is
    /// durable (thesis §3.8): a crash can then lose what the node promised.
    case acknowledgeBeforePersist
    /// The leader answers a linearizable read at once with its commit index, without the heartbeat round that
    /// proves it still leads: a deposed leader serves stale reads.
    case readIndexWithoutHeartbeat
    /// A leader accepts a configuration change while the previous one is uncommitted, so two configurations whose
    /// majorities need not overlap can both be in force (thesis §4.1).
    case twoMembershipChangesInFlight
    /// A follower installs a leader's snapshot even when it is older than its own commit index, rolling its
    /// state machine back.
    case installOlderSnapshot
    /// Not the engine's: in the simulator's sharded world, a group keeps serving the keys of a slot or span it has
    /// released to another group (Redis Cluster's MIGRATING source answering instead of sending `ASK`), so a write
    /// routed by a stale map lands in the old owner after its keys were copied away.
    case sourceServesReleasedKeys
    /// Not the engine's: in the simulator's sharded world, the mover copies keys before the source releases them
    /// (the target adopts without the source's release), so a write the source accepts in between is acknowledged
    /// and then lost with the source's copy.
    case copyBeforeRelease
    /// Not the engine's: the simulator's state machine loses one key when it restores a snapshot, as a snapshot
    /// format that leaves something out would, so a replica caught up by snapshot holds another state than those
    /// that applied the log.
    case restoreLosesAKey
    /// A leader counts learners' acknowledgements towards a commit as if they were voters' (thesis §4.2.1), so an
    /// entry may commit without a majority of the voters, and a leader elected by the others lacks it.
    case learnersCountTowardCommit
    /// Not the engine's: in the simulator, a node whose disk holds damaged synced data is "repaired" by wiping its
    /// data directory and starting it again under its old id, instead of being replaced under a new one, so it
    /// forgets the votes and entries it acknowledged.
    case damagedDiskWipedInPlace
    /// Not the engine's: in the simulator's worlds that run the store, a client sends a write whose outcome is
    /// unknown again outside its session, as a client without exactly-once writes would, so a write that took
    /// effect may take effect twice.
    case retriesWithoutSession
    /// Not the engine's: in the simulator's worlds that run the store, a read hides a key whose lease has expired
    /// on the serving node's wall clock before the revocation is applied (expiry on read, outside the log), so a
    /// key hidden by one node's clock is shown again by another's, or renewed by a leader whose clock is behind.
    case readsHideExpiredLeases
}
