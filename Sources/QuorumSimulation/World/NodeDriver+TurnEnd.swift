import QuorumConsensus
import QuorumNode

extension NodeDriver {
    /// The simulated end of an event-loop turn, after an input: the driver processes what the input stepped at once,
    /// or, with chance `deferralRate`, leaves it for a `.process` event, as the server leaves it for the end of its
    /// turn. While such an event is due (`turnEndDue`), later inputs wait for it too. Returns whether the caller must
    /// schedule one now.
    mutating func processNowOrAtTurnEnd(turnEndDue: Bool, deferralRate: Double, random: inout SplitMix64) -> Bool {
        guard needsProcessing && !turnEndDue else { return false }
        if random.chance(deferralRate) { return true }
        process()
        return false
    }
}
