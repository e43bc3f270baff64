/// One direction of one peer link: the connections node `from` opens to node `to`, which carry every message
/// `from` sends to `to` (a node never answers on a connection it accepted; its answers travel on its own). Or, with
/// `from` 0, the connections the workload's Swift clients open to node `to`'s client port: faults slow or break
/// what the clients send; answers come straight back.
public struct Link: Hashable, Sendable, Codable, CustomStringConvertible {
    public var from: Int
    public var to: Int

    public init(from: Int, to: Int) {
        self.from = from
        self.to = to
    }

    /// The clients' connections to node `node`.
    public static func clients(to node: Int) -> Link { Link(from: 0, to: node) }

    public var isClients: Bool { from == 0 }

    public var description: String { isClients ? "clients→\(to)" : "\(from)→\(to)" }
}

/// What the proxy does to the bytes of one link. Everything healthy is `LinkFaults()`.
public struct LinkFaults: Hashable, Sendable, Codable {
    public enum Cut: String, Hashable, Sendable, Codable {
        /// Bytes pass.
        case none
        /// Open connections are closed and new ones closed as soon as they are accepted: the sender sees the
        /// peer go away and keeps reconnecting.
        case drop
        /// Connections stay open but nothing is read from the sender, so its bytes wait in the kernel's buffers
        /// (and then its own) and arrive, late, when the cut heals: a silent partition.
        case hold
    }

    public var cut: Cut = .none
    /// Every chunk arrives this much later than it was sent (order kept).
    public var delayMilliseconds = 0
    /// Each chunk relayed closes its connection with this probability, in thousandths.
    public var dropPerMille = 0
    /// The link carries at most this many bytes a second; nil: no limit.
    public var bytesPerSecond: Int?

    public init(cut: Cut = .none, delayMilliseconds: Int = 0, dropPerMille: Int = 0, bytesPerSecond: Int? = nil) {
        self.cut = cut
        self.delayMilliseconds = delayMilliseconds
        self.dropPerMille = dropPerMille
        self.bytesPerSecond = bytesPerSecond
    }
}
