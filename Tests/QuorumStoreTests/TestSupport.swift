import Testing

@testable import QuorumStore

/// A tiny seeded generator (SplitMix64) so every random test replays exactly from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func b(_ text: String) -> [UInt8] { Array(text.utf8) }

extension StoreResult {
    var put: PutResponse? { if case .put(let response) = self { response } else { nil } }
    var range: RangeResponse? { if case .range(let response) = self { response } else { nil } }
    var deleteRange: DeleteRangeResponse? { if case .deleteRange(let response) = self { response } else { nil } }
    var transaction: TransactionResponse? { if case .transaction(let response) = self { response } else { nil } }
    var failure: StoreError? { if case .failed(let error) = self { error } else { nil } }
}

extension KeyValueStore {
    /// Applies a put that the test expects to succeed.
    @discardableResult
    mutating func put(_ key: String, _ value: String, lease: LeaseID? = nil, prevKV: Bool = false) -> AppliedCommand {
        let applied = apply(.put(PutRequest(key: b(key), value: b(value), lease: lease, prevKV: prevKV)))
        #expect(applied.result.failure == nil, "put \(key) failed: \(String(describing: applied.result.failure))")
        return applied
    }

    @discardableResult
    mutating func delete(_ key: String, rangeEnd: String? = nil, prevKV: Bool = false) -> AppliedCommand {
        apply(.deleteRange(DeleteRangeRequest(key: b(key), rangeEnd: rangeEnd.map(b), prevKV: prevKV)))
    }

    /// Keys and values of a range read, as strings, for compact expectations.
    func pairs(_ request: RangeRequest) throws -> [String] {
        try range(request).kvs.map {
            String(decoding: $0.key, as: UTF8.self) + "=" + String(decoding: $0.value, as: UTF8.self)
        }
    }
}
