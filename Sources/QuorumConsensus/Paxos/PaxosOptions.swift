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
    /// The members. Membership changes are not implemented for Multi-Paxos yet: this is the configuration for good.
    public var initialConfiguration = Configuration(voters: [])
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
}
