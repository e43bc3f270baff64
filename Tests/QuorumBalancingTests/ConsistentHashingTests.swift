import QuorumConsensus
import Testing

@testable import QuorumBalancing

@Suite("Consistent hashing")
struct ConsistentHashingTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case ring, maglev, rendezvous
        var testDescription: String { rawValue }

        /// Where each key lives among `candidates`.
        func placements(of keys: [RequestKey], among candidates: [Backend]) -> [BackendID] {
            switch self {
            case .ring:
                let ring = HashRing(backends: candidates, configuration: .standard)
                return keys.map { ring.backend(for: $0)! }
            case .maglev:
                let table = MaglevTable(backends: candidates, configuration: try! .init(tableSize: 10_007))
                return keys.map { table.backend(for: $0)! }
            case .rendezvous:
                let placement = RendezvousPlacement(backends: candidates, configuration: .standard)
                return keys.map { placement.backend(for: $0)! }
            }
        }

        /// Whether only the keys that must move do move (Maglev trades a little of this for its even spread).
        var movesOnlyWhatItMust: Bool { self != .maglev }
    }

    static func keys(_ count: Int, seed: UInt64) -> [RequestKey] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in RequestKey(generator.next()) }
    }

    @Test("adding one backend to N moves about 1/(N+1) of the keys, all to the newcomer", arguments: Kind.allCases)
    func addingMovesAFraction(kind: Kind) {
        let keys = Self.keys(20_000, seed: 13)
        for count in [5, 10, 20] {
            let before = kind.placements(of: keys, among: backends(count))
            let after = kind.placements(of: keys, among: backends(count + 1))
            let moved = zip(before, after).filter { $0 != $1 }
            let fraction = Double(moved.count) / Double(keys.count)
            let ideal = 1 / Double(count + 1)
            #expect(fraction > 0.7 * ideal && fraction < 1.3 * ideal, "N=\(count): moved \(fraction), ideal \(ideal)")
            if kind.movesOnlyWhatItMust {
                #expect(moved.allSatisfy { $0.1 == BackendID(UInt64(count + 1)) })
            }
        }
    }

    @Test("removing one backend of N moves about 1/N of the keys, its own", arguments: Kind.allCases)
    func removingMovesAFraction(kind: Kind) {
        let keys = Self.keys(20_000, seed: 14)
        for count in [5, 10, 20] {
            let all = backends(count)
            let removed = BackendID(UInt64(count / 2))
            let before = kind.placements(of: keys, among: all)
            let after = kind.placements(of: keys, among: all.filter { $0.id != removed })
            let moved = zip(before, after).filter { $0 != $1 }
            let fraction = Double(moved.count) / Double(keys.count)
            let ideal = 1 / Double(count)
            #expect(fraction > 0.7 * ideal && fraction < 1.3 * ideal, "N=\(count): moved \(fraction), ideal \(ideal)")
            // Every key of the removed backend must move; for ring and rendezvous, no other key may.
            #expect(!after.contains(removed))
            if kind.movesOnlyWhatItMust {
                #expect(moved.allSatisfy { $0.0 == removed })
            }
        }
    }

    @Test("keys spread in proportion to weight", arguments: Kind.allCases)
    func weightedShares(kind: Kind) {
        let keys = Self.keys(40_000, seed: 15)
        let candidates = backends(weights: [1, 2, 3, 4])
        let placements = kind.placements(of: keys, among: candidates)
        for backend in candidates {
            let share = Double(placements.count { $0 == backend.id }) / Double(keys.count)
            #expect(abs(share - backend.weight.rawValue / 10) < 0.03, "\(kind): \(backend) got \(share)")
        }
    }

    @Test("the same key always reaches the same backend, whatever the candidate order", arguments: Kind.allCases)
    func orderIndependent(kind: Kind) {
        let keys = Self.keys(2_000, seed: 16)
        let forward = kind.placements(of: keys, among: backends(7))
        let reversed = kind.placements(of: keys, among: backends(7).reversed())
        #expect(forward == reversed)
    }

    @Test("bounded load never lets a backend exceed ceil(c × average), even with a hot key", arguments: Kind.allCases)
    func boundedLoadHolds(kind: Kind) throws {
        let bound = try BoundedLoad(balanceFactor: 1.25)
        var policy: any LoadBalancingPolicy
        switch kind {
        case .ring: policy = RingHashPolicy(configuration: .standard, boundedLoad: bound)
        case .maglev: policy = MaglevPolicy(configuration: try .init(tableSize: 1_009), boundedLoad: bound)
        case .rendezvous: policy = RendezvousHashPolicy(configuration: .standard, boundedLoad: bound)
        }
        let exceeded = Self.runBoundedLoadWorkload(policy: &policy, factor: 1.25)
        #expect(exceeded == 0, "\(kind): a backend went above its bound \(exceeded) times")
    }

    @Test("without bounded load the same hot-key workload overloads one backend", arguments: Kind.allCases)
    func unboundedOverloads(kind: Kind) {
        var policy: any LoadBalancingPolicy
        switch kind {
        case .ring: policy = RingHashPolicy(configuration: .standard)
        case .maglev: policy = MaglevPolicy(configuration: try! .init(tableSize: 1_009))
        case .rendezvous: policy = RendezvousHashPolicy(configuration: .standard)
        }
        #expect(Self.runBoundedLoadWorkload(policy: &policy, factor: 1.25) > 100)
    }

    /// Starts and finishes requests on 10 backends (70% starts), half of them for one hot key, and counts the picks
    /// after which the chosen backend holds more than ⌈c · m / n⌉ with m the requests in flight.
    static func runBoundedLoadWorkload(policy: inout any LoadBalancingPolicy, factor: Double) -> Int {
        var generator = SplitMix64(seed: 17)
        let candidates = backends(10)
        var inFlight: [BackendID] = []
        var load: [BackendID: Int] = [:]
        var exceeded = 0
        for _ in 0..<3_000 {
            if inFlight.isEmpty || Int.random(in: 0..<10, using: &generator) < 7 {
                let key = Bool.random(using: &generator) ? RequestKey(42) : RequestKey(generator.next())
                let chosen = pickAndStart(&policy, candidates: candidates, key: key, generator: &generator)
                inFlight.append(chosen)
                load[chosen, default: 0] += 1
                let capacity = Int((factor * Double(inFlight.count) / 10).rounded(.up))
                if load[chosen]! > capacity { exceeded += 1 }
            } else {
                let finished = inFlight.remove(at: Int.random(in: 0..<inFlight.count, using: &generator))
                load[finished]! -= 1
                policy.requestFinished(on: finished, latency: 1, outcome: .success, now: .zero)
            }
        }
        return exceeded
    }

    static func pickAndStart(
        _ policy: inout any LoadBalancingPolicy, candidates: [Backend], key: RequestKey, generator: inout SplitMix64
    ) -> BackendID {
        policy.pickAndStart(from: candidates, key: key, using: &generator)
    }

    @Test("bounded load refuses a balance factor below one")
    func boundedLoadValidation() {
        #expect(throws: BalancingError.self) { try BoundedLoad(balanceFactor: 0.9) }
        #expect(throws: BalancingError.self) { try BoundedLoad(balanceFactor: .nan) }
        #expect(throws: BalancingError.self) { try MaglevTable.Configuration(tableSize: 65_536) }
        #expect(throws: BalancingError.self) { try HashRing.Configuration(virtualNodesPerWeight: 0) }
    }

    @Test("a request without an affinity key is spread over all backends")
    func noKeySpreads() {
        var generator = SplitMix64(seed: 18)
        var policy = RendezvousHashPolicy(configuration: .standard)
        let chosen = Set((0..<200).map { _ in policy.pick(from: backends(5), using: &generator, now: .zero)! })
        #expect(chosen.count == 5)
    }

    @Test("key hashes are fixed forever: a change would move every key in a running fleet")
    func stableHashesArePinned() {
        #expect(RequestKey(hashing: "user-42").rawValue == RequestKey(hashing: Array("user-42".utf8)).rawValue)
        #expect(RequestKey(hashing: "").rawValue == StableHash.mix(0xcbf2_9ce4_8422_2325))
        #expect(RequestKey(hashing: "user-42").rawValue == 16_324_320_986_541_187_651)
        let keys = (0..<8).map { RequestKey(hashing: "user-\($0)") }
        let ring = HashRing(backends: backends(10), configuration: .standard)
        let maglev = MaglevTable(backends: backends(10), configuration: .standard)
        let rendezvous = RendezvousPlacement(backends: backends(10), configuration: .standard)
        #expect(keys.map { ring.backend(for: $0)!.rawValue } == [3, 8, 5, 10, 8, 9, 4, 1])
        #expect(keys.map { rendezvous.backend(for: $0)!.rawValue } == [5, 2, 9, 6, 5, 2, 5, 9])
        #expect(keys.map { maglev.backend(for: $0)!.rawValue } == [4, 8, 9, 10, 4, 6, 2, 5])
    }
}
