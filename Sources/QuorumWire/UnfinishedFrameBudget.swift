import Synchronization

/// The bytes a port holds in frames that have not fully arrived, across all its connections, bounded. Without it, a
/// stranger opening many connections and sending the start of a frame of the largest size on each made the node hold
/// that size per connection (16 MiB each, 160 GiB at 10,000 connections). A connection whose frame would pass the
/// bound is closed instead; the others, and every complete frame, are unaffected.
public final class UnfinishedFrameBudget: Sendable {
    public let bytesMax: Int
    private let held = Atomic<Int>(0)
    private let refused: @Sendable () -> Void

    /// - Parameter refused: called for each connection closed for passing the bound (to count it).
    public init(bytesMax: Int, refused: @escaping @Sendable () -> Void = {}) {
        self.bytesMax = bytesMax
        self.refused = refused
    }

    public var heldBytes: Int { held.load(ordering: .relaxed) }

    /// Takes `count` more bytes, or none (false) if that would pass the bound.
    func take(_ count: Int) -> Bool {
        var current = held.load(ordering: .relaxed)
        while true {
            guard current + count <= bytesMax else {
                refused()
                return false
            }
            let (exchanged, original) = held.compareExchange(
                expected: current, desired: current + count, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func give(_ count: Int) {
        held.subtract(count, ordering: .relaxed)
    }
}
