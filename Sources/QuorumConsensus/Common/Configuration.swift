/// The members of a group: voters decide, learners only receive the log.
///
/// Invariant: `voters` and `learners` are disjoint; `learnersToPromote` ⊆ `learners`.
public struct Configuration: Hashable, Sendable, CustomStringConvertible {
    public private(set) var voters: Set<NodeID>
    public private(set) var learners: Set<NodeID>
    /// Learners that joined with the intent of becoming voters: the leader promotes each once it has caught up.
    public private(set) var learnersToPromote: Set<NodeID>

    public init(voters: Set<NodeID>, learners: Set<NodeID> = [], learnersToPromote: Set<NodeID> = []) {
        precondition(voters.isDisjoint(with: learners), "a node cannot be both voter and learner")
        precondition(learnersToPromote.isSubset(of: learners), "only learners can be promoted")
        self.voters = voters
        self.learners = learners
        self.learnersToPromote = learnersToPromote
    }

    public var members: Set<NodeID> { voters.union(learners) }
    public var quorumSize: Int { voters.count / 2 + 1 }

    public func contains(_ node: NodeID) -> Bool { voters.contains(node) || learners.contains(node) }

    /// Whether `change` is valid against this configuration; `nil` if so, else the reason.
    public func refusal(of change: ConfigurationChange) -> String? {
        switch change {
        case .addLearner(let node, _):
            return contains(node) ? "\(node) is already a member" : nil
        case .promote(let node):
            return learners.contains(node) ? nil : "\(node) is not a learner"
        case .remove(let node):
            if !contains(node) { return "\(node) is not a member" }
            if voters == [node] { return "cannot remove the last voter \(node)" }
            return nil
        }
    }

    /// The configuration after `change`. Precondition: `refusal(of: change) == nil`.
    public func applying(_ change: ConfigurationChange) -> Configuration {
        precondition(refusal(of: change) == nil, "invalid change \(change) to \(self)")
        var next = self
        switch change {
        case .addLearner(let node, let promoteWhenCaughtUp):
            next.learners.insert(node)
            if promoteWhenCaughtUp { next.learnersToPromote.insert(node) }
        case .promote(let node):
            next.learners.remove(node)
            next.learnersToPromote.remove(node)
            next.voters.insert(node)
        case .remove(let node):
            next.voters.remove(node)
            next.learners.remove(node)
            next.learnersToPromote.remove(node)
        }
        return next
    }

    public var description: String {
        let v = voters.sorted().map(\.description).joined(separator: ",")
        let l = learners.sorted().map(\.description).joined(separator: ",")
        return l.isEmpty ? "{\(v)}" : "{\(v) learners:\(l)}"
    }
}

/// One server at a time, so every old majority overlaps every new one (Raft thesis §4.2). Adding a
/// voter goes through a learner stage so that a slow newcomer never counts against the quorum.
public enum ConfigurationChange: Hashable, Sendable, CustomStringConvertible {
    case addLearner(NodeID, promoteWhenCaughtUp: Bool)
    case promote(NodeID)
    case remove(NodeID)

    public var description: String {
        switch self {
        case .addLearner(let node, let promote): promote ? "add \(node) (learner→voter)" : "add learner \(node)"
        case .promote(let node): "promote \(node)"
        case .remove(let node): "remove \(node)"
        }
    }
}
