import QuorumConsensus
import QuorumStore

/// The lease revocations a store world's replicas apply, each recorded at its first apply on any replica: by then
/// it has certainly taken effect, and no replica could have shown its effect earlier. The world records each as a
/// delete of every key it removed, invoked when a leader first proposed revoking that lease.
final class AppliedRevocations {
    struct Revocation {
        let lease: LeaseID
        let deletedKeys: [String]
        let appliedAt: UInt64
    }

    private(set) var applied: [Revocation] = []
    private var indexes: Set<LogIndex> = []

    func record(_ lease: LeaseID, deleted keys: [String], at index: LogIndex, now: UInt64) {
        guard indexes.insert(index).inserted else { return }
        applied.append(Revocation(lease: lease, deletedKeys: keys, appliedAt: now))
    }
}
