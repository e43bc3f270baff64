import QuorumConsensus
import QuorumNode

extension NodeDriver {
    /// The simulated end of an event-loop turn, after an input: the driver processes what the input stepped at once,
    /// or, when `defers()` says so, leaves it for a `.process` event, as the server leaves it for the end of its turn.
    /// While such an event is due (`turnEndDue`), later inputs wait for it too. Returns whether the caller must
    /// schedule one now. (`defers` is a closure, not the world's generator passed inout: processing sends, and the
    /// world's network draws from that same generator.)
    mutating func processNowOrAtTurnEnd(turnEndDue: Bool, defers: () -> Bool) -> Bool {
        guard needsProcessing && !turnEndDue else { return false }
        if defers() { return true }
        process()
        return false
    }
}
