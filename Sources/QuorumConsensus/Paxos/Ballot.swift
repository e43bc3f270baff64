/// A Paxos ballot: a round and the node that owns it, ordered by round, then by node.
///
/// The round stands in for `term` everywhere the shared vocabulary has one: a `Message`'s term is the round of the
/// ballot it concerns, `ConsensusEngine.term` is the round this node promised, and `HardState` stores the promised
/// ballot as (term: round, votedFor: node).
///
/// An acceptor promises each round to one node only, as a Raft voter grants one vote per term: it promises or accepts
/// a ballot only if its round is above the promised round, or if it is the promised ballot itself. Two nodes that
/// campaign in the same round therefore cannot both complete phase 1 (their quorums share an acceptor), so at most
/// one proposer ever issues phase-2 messages in a round, and the round alone identifies the ballot a slot's value
/// was accepted in. That is what lets a stored slot record its accepted ballot in `Entry.term`. Two proposers that
/// pick the same round split the acceptors, time out and retry after randomized backoffs, as a split vote does.
public struct Ballot: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var round: Term
    /// The owner; `NodeID(0)` only in `Ballot.none`.
    public var node: NodeID

    public init(round: Term, node: NodeID) {
        self.round = round
        self.node = node
    }

    /// Below every real ballot: nothing promised yet. Real rounds start at 1.
    public static let none = Ballot(round: 0, node: NodeID(0))

    public static func < (lhs: Ballot, rhs: Ballot) -> Bool {
        (lhs.round, lhs.node) < (rhs.round, rhs.node)
    }

    /// Whether an acceptor that promised `self` may promise or accept `ballot`: a newer round, or this very ballot.
    public func admits(_ ballot: Ballot) -> Bool {
        ballot.round > round || ballot == self
    }

    public var description: String { "b\(round.rawValue).\(node.rawValue)" }
}
