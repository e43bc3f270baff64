/// Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018): no backend takes more than
/// `c` times its share of the requests in flight; a key whose backend is full moves along its preference order to
/// the next backend with room.
///
/// With m requests in flight counting the new one, a backend of weight w out of a total W may hold at most
/// ⌈c · m · w / W⌉ (⌈c · m / n⌉ with equal weights). As c approaches 1 the load is perfectly even but keys move
/// often; as c grows keys stay put but loads vary. 1.25 is a common choice (HAProxy's `hash-balance-factor` is
/// the same idea, in percent).
public struct BoundedLoad: Hashable, Sendable {
    /// The `c` of the paper: how far above the average a backend may go.
    public let balanceFactor: Double

    /// - Throws: when `balanceFactor` is below 1, since then the capacities cannot hold every request.
    public init(balanceFactor: Double) throws(BalancingError) {
        guard balanceFactor.isFinite && balanceFactor >= 1 else {
            throw .invalidConfiguration(
                "the bounded-load balance factor must be at least 1 (got \(balanceFactor)); 1.25 is a good default")
        }
        self.balanceFactor = balanceFactor
    }

    /// How many requests `backend` may hold once the request being placed is counted.
    /// - Parameters:
    ///   - requestsInFlight: requests in flight on the candidates, counting the one being placed.
    func capacity(of backend: Backend, totalWeight: Double, requestsInFlight: Int) -> Int {
        let share = balanceFactor * Double(requestsInFlight) * backend.weight.rawValue / totalWeight
        return Int(share.rounded(.up))
    }
}
