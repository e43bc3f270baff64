/// Google's Maglev hashing (Eisenbud et al., NSDI 2016): a lookup table of M slots (M prime) filled by letting
/// each backend claim slots in turn, each following its own pseudo-random permutation of the table.
///
/// Lookups are one array access, and the table spreads keys almost perfectly evenly (each backend's share is
/// within a few slots of M/N). The price is disruption slightly above the ring's minimum: when a backend leaves,
/// a few keys of other backends move too. Keep M well above 100·N; Envoy's default is 65537. Weights are honoured
/// by letting heavier backends take turns more often.
public struct MaglevTable: HashPlacement {
    public struct Configuration: Hashable, Sendable {
        /// The number of slots: a prime, so every backend's permutation visits every slot.
        public var tableSize: Int

        public init(tableSize: Int = 65_537) throws(BalancingError) {
            guard tableSize >= 2 && tableSize <= 16_777_213 && Self.isPrime(tableSize) else {
                throw .invalidConfiguration(
                    "the Maglev table size must be a prime between 2 and 16777213 (got \(tableSize)); 65537 is typical")
            }
            self.tableSize = tableSize
        }

        // The defaults pass validation by construction.
        public static let standard = try! Configuration()

        static func isPrime(_ number: Int) -> Bool {
            guard number >= 2 else { return false }
            var divisor = 2
            while divisor * divisor <= number {
                if number % divisor == 0 { return false }
                divisor += 1
            }
            return true
        }
    }

    /// Invariant: every slot names a backend (empty only when built from no backends).
    private let slots: [BackendID]
    /// Every backend, for the last resort of a bounded-load walk: with more backends than slots, some own none.
    private let backends: [BackendID]

    public init(backends unordered: [Backend], configuration: Configuration) {
        let size = configuration.tableSize
        // Turns are taken in id order: the table must not depend on the order the registry listed the backends in,
        // or two proxies with the same set would place keys differently.
        let backends = unordered.sorted { $0.id < $1.id }
        self.backends = backends.map(\.id)
        guard !backends.isEmpty else {
            slots = []
            return
        }
        // Each backend's permutation: start at `offset`, step by `skip` (non-zero, so coprime with the prime size).
        let offsets = backends.map { Int(StableHash.combine($0.id.rawValue, 0x6d61_676c_6576) % UInt64(size)) }
        let skips = backends.map { Int(StableHash.combine($0.id.rawValue, 0x736b_6970) % UInt64(size - 1)) + 1 }
        let maximumWeight = backends.map(\.weight.rawValue).max()!
        var nextInPermutation = Array(repeating: 0, count: backends.count)
        var claimed = Array(repeating: 0, count: backends.count)
        var table: [BackendID?] = Array(repeating: nil, count: size)
        var filled = 0
        var round = 0
        while filled < size {
            round += 1
            for index in backends.indices where filled < size {
                // Weighted turns: a backend claims a slot this round only while its claims trail its weight's
                // share of the rounds so far (the heaviest backend claims one slot every round).
                let allowed = Double(round) * backends[index].weight.rawValue / maximumWeight
                guard Double(claimed[index]) < allowed else { continue }
                var slot: Int
                repeat {
                    slot = (offsets[index] + nextInPermutation[index] * skips[index]) % size
                    nextInPermutation[index] += 1
                } while table[slot] != nil
                table[slot] = backends[index].id
                claimed[index] += 1
                filled += 1
            }
        }
        slots = table.map { $0! }
    }

    public func firstBackend(for key: RequestKey, where accepts: (BackendID) -> Bool) -> BackendID? {
        guard !slots.isEmpty else { return nil }
        let start = Int(StableHash.mix(key.rawValue) % UInt64(slots.count))
        // Spill to the following slots: neighbouring slots belong to backends in the interleaved order the
        // permutations produced, so a full backend's keys spread over the others rather than onto one.
        for step in 0..<slots.count {
            let backend = slots[(start + step) % slots.count]
            if accepts(backend) { return backend }
        }
        return backends.first(where: accepts)
    }
}
