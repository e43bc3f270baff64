import QuorumConsensus

/// How a node refuses a request for a group it holds no replica of: the words the client port and HTTP answer, and
/// the test the client uses to try another node instead of giving up (the replica may have moved there).
public enum GroupRefusal {
    public static func notHosted(_ group: GroupID) -> String { "this node hosts no group \(group.rawValue)" }

    public static func removed(_ group: GroupID) -> String {
        "this node's replica of \(group) was removed from the group"
    }

    /// Whether `message` says the node holds no replica of the group it was asked about.
    public static func saysNotHosted(_ message: String) -> Bool {
        message.hasPrefix("this node hosts no group ") || message.hasPrefix("this node's replica of ")
    }
}
