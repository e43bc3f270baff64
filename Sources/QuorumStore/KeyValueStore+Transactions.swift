/// The branch each transaction on the path takes, decided before anything is written (etcd's `compareToPath`).
struct TransactionPlan {
    var succeeded: Bool
    /// Plans of the nested transactions in the chosen branch, in order.
    var nested: [TransactionPlan]
}

extension KeyValueStore {
    /// Applies a transaction atomically: it plans the path, validates every operation on it against the state
    /// before the transaction, and only then writes, so a refusal leaves nothing half-applied.
    mutating func applyTransaction(_ request: TransactionRequest) throws(StoreError) -> (
        TransactionResponse, [WatchEvent]
    ) {
        let operations = Self.operationCount(request)
        if operations > limits.transactionOperationsMax {
            throw .tooManyTransactionOperations(count: operations, limit: limits.transactionOperationsMax)
        }
        let plan = try planTransaction(request, depth: 1)
        try validate(request, plan: plan)
        var batch = beginWrite()
        var response = executeTransaction(request, plan: plan, with: &batch)
        finishWrite(batch)
        Self.stampRevision(revision, on: &response)
        return (response, batch.events)
    }

    /// Operations in both branches at every level: what the request costs to decode and to check.
    static func operationCount(_ request: TransactionRequest) -> Int {
        var total = request.success.count + request.failure.count
        for case .transaction(let nested) in request.success + request.failure { total += operationCount(nested) }
        return total
    }

    private func planTransaction(_ request: TransactionRequest, depth: Int) throws(StoreError) -> TransactionPlan {
        if depth > limits.transactionDepthMax { throw .transactionTooDeep(limit: limits.transactionDepthMax) }
        var succeeded = true
        for comparison in request.compare {
            try validateKey(comparison.key)
            try checkServed(comparison.key, rangeEnd: nil)
            let current = histories[comparison.key]?.latestLive?.keyValue(key: comparison.key)
            if !comparison.evaluate(against: current) { succeeded = false }
        }
        var nested: [TransactionPlan] = []
        for case .transaction(let inner) in succeeded ? request.success : request.failure {
            nested.append(try planTransaction(inner, depth: depth + 1))
        }
        return TransactionPlan(succeeded: succeeded, nested: nested)
    }

    private func validate(_ request: TransactionRequest, plan: TransactionPlan) throws(StoreError) {
        var nestedPlans = plan.nested.makeIterator()
        for operation in plan.succeeded ? request.success : request.failure {
            switch operation {
            case .put(let put): try validate(put)
            case .range(let range): try validate(range)
            case .deleteRange(let delete): try validate(delete)
            case .transaction(let inner): try validate(inner, plan: nestedPlans.next()!)
            }
        }
    }

    private mutating func executeTransaction(
        _ request: TransactionRequest, plan: TransactionPlan, with batch: inout WriteBatch
    ) -> TransactionResponse {
        var nestedPlans = plan.nested.makeIterator()
        var responses: [TransactionOperationResponse] = []
        for operation in plan.succeeded ? request.success : request.failure {
            switch operation {
            case .put(let put):
                responses.append(.put(writePut(put, with: &batch)))
            case .range(let range):
                // Validated against the pre-transaction state, and a transaction's writes cannot make a valid
                // read revision invalid, so this cannot fail.
                guard let response = try? self.range(range) else { preconditionFailure("validated range failed") }
                responses.append(.range(response))
            case .deleteRange(let delete):
                responses.append(.deleteRange(writeDelete(delete, with: &batch)))
            case .transaction(let inner):
                responses.append(.transaction(executeTransaction(inner, plan: nestedPlans.next()!, with: &batch)))
            }
        }
        return TransactionResponse(revision: revision, succeeded: plan.succeeded, responses: responses)
    }

    /// Every header in a transaction's response carries the revision after the whole transaction.
    private static func stampRevision(_ revision: Revision, on response: inout TransactionResponse) {
        response.revision = revision
        for position in response.responses.indices {
            switch response.responses[position] {
            case .put(var put):
                put.revision = revision
                response.responses[position] = .put(put)
            case .range(var range):
                range.revision = revision
                response.responses[position] = .range(range)
            case .deleteRange(var delete):
                delete.revision = revision
                response.responses[position] = .deleteRange(delete)
            case .transaction(var inner):
                stampRevision(revision, on: &inner)
                response.responses[position] = .transaction(inner)
            }
        }
    }
}
