/// Weighted rendezvous ("highest random weight") hashing (Thaler and Ravishankar, 1998; weighted form by
/// Schindelhauer and Schomaker): every backend scores every key, and the key goes to the highest score.
///
/// The score of backend b for key k is −w_b / ln(u) with u = hash(k, b) in (0, 1): the share of keys a backend
/// wins is then exactly proportional to its weight. A change of backend moves only the keys it wins or loses,
/// the theoretical minimum, with no table to build and no memory beyond the list; the price is a lookup cost of
/// O(N), fine for tens to hundreds of backends.
public struct RendezvousPlacement: HashPlacement {
    /// Rendezvous hashing has nothing to tune.
    public struct Configuration: Hashable, Sendable {
        public init() {}
        public static let standard = Configuration()
    }

    private let backends: [Backend]

    public init(backends: [Backend], configuration: Configuration) {
        self.backends = backends
    }

    func score(of backend: Backend, for key: RequestKey) -> Double {
        let unit = StableHash.unitInterval(StableHash.combine(key.rawValue, backend.id.rawValue))
        return -backend.weight.rawValue / DeterministicMath.naturalLog(unit)
    }

    public func firstBackend(for key: RequestKey, where accepts: (BackendID) -> Bool) -> BackendID? {
        var best: (backend: BackendID, score: Double)?
        for backend in backends {
            let score = score(of: backend, for: key)
            if best.map({ score > $0.score || (score == $0.score && backend.id < $0.backend) }) ?? true {
                best = (backend.id, score)
            }
        }
        guard let best else { return nil }
        if accepts(best.backend) { return best.backend }
        // Rarely needed (only when bounded load refuses the winner), so the full order is sorted only then.
        let order = backends.map { (id: $0.id, score: score(of: $0, for: key)) }
            .sorted { ($0.score, $1.id) > ($1.score, $0.id) }
        return order.lazy.map(\.id).first(where: accepts)
    }
}
