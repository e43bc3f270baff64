import QuorumConsensus
import Testing

@testable import QuorumStore


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
