/// How a Multi-Paxos node behaves. `validate()` is called by the engine's initialiser; each refusal is one sentence.
public struct PaxosOptions: Sendable {
    /// Ticks a replica waits without hearing from its leader before it runs phase 1; randomised in
    /// `[electionTimeoutTicks, 2 * electionTimeoutTicks)` each time, and again after every failed attempt, so that
    /// duelling proposers back off by different amounts and one of them wins.
    public var electionTimeoutTicks = 10
    /// How often the leader sends heartbeats (empty accepts carrying the commit notice and the read round).
    public var heartbeatIntervalTicks = 1
    /// A leader that has not heard from a quorum within an election timeout gives up, and acceptors that heard from
    /// a leader within one ignore other proposers' prepares (the distinguished proposer stays stable).
    public var checkQuorum = true
    /// Slots per accept message.
    public var maxEntriesPerAccept = 256
    public var maxBytesPerAccept = 1 << 20
    /// Slots sent to an acceptor and not yet acknowledged, at most: the pipeline's depth.
    public var maxInflightSlots = 4_096
    /// Ask the driver for a snapshot once this many slots were applied since the last one.
    public var snapshotIntervalEntries = 10_000
    /// Chosen slots kept behind a snapshot so that slightly lagging acceptors still get accepts, not a snapshot.
    public var entriesRetainedAfterSnapshot = 1_000
    /// The members when the group was founded; later configurations are chosen in the log.
    public var initialConfiguration = Configuration(voters: [])
    /// α: a membership change chosen at slot s governs the slots from s + α on, and a leader never opens a slot at or
    /// past (first unchosen slot) + α, so it always knows the configuration of the slots it opens. It also bounds the
    /// unchosen slots a leader has in flight, and a leader fills up to α − 1 slots with no-ops after a change so that
    /// the change takes effect promptly. Every node of a group must use the same value, as it must the same initial
    /// configuration.
    public var configurationDelaySlots = 1_024
    /// A learner that joined to become a voter is promoted once its accepted slots are within this many of the
    /// leader's chosen ones.
    public var promotionLagMax = 0
    /// Seeds the generator for timeouts and forwarded-read ids; give each node, and each start of it, its own.
    public var randomSeed: UInt64 = 0
    /// Deliberate bugs, for proving that the simulator catches them. Reachable only inside the package.
    package var injectedBug: InjectedPaxosBug?

    public init() {}

    public func validate() throws(OptionsError) {
        if heartbeatIntervalTicks < 1 { throw OptionsError("heartbeat interval must be at least one tick") }
        if electionTimeoutTicks <= heartbeatIntervalTicks {
            throw OptionsError("election timeout must be longer than the heartbeat interval")
        }
        if maxEntriesPerAccept < 1 || maxBytesPerAccept < 1 {
            throw OptionsError("accepts must be allowed at least one slot and one byte")
        }
        if maxInflightSlots < 1 { throw OptionsError("the pipeline must allow at least one slot in flight") }
        if snapshotIntervalEntries < 1 { throw OptionsError("snapshot interval must be at least one entry") }
        if entriesRetainedAfterSnapshot < 0 { throw OptionsError("retained entries cannot be negative") }
        if configurationDelaySlots < 1 || configurationDelaySlots > 1 << 20 {
            throw OptionsError("the configuration delay α must be between 1 and 1048576 slots")
        }
        if promotionLagMax < 0 { throw OptionsError("promotion lag cannot be negative") }
    }
}

/// Known-wrong Multi-Paxos behaviours the simulator must catch.
package enum InjectedPaxosBug: String, Sendable, CaseIterable {
    /// An acceptor accepts values in a ballot below the one it promised (into slots where it accepted nothing).
    case acceptBelowPromise
    /// A new leader ignores the values reported in promises and fills every open slot with its own no-ops.
    case ignorePromisedValues
    /// An acceptor sends its promise before the promise is durable.
    case promiseBeforePersist
    /// A membership change governs the very next slot instead of the slots α later, while the leader still opens up
    /// to α slots past its chosen ones: the configuration of an open slot then depends on slots not yet chosen.
    case configurationInForceAtOnce
}
