import QuorumClient
import Testing

@Suite("Client cancellation")
struct ClientCancellationTests {
    @Test("cancelling a call stops its retries at once instead of waiting out the deadline")
    func cancellationStopsRetries() async throws {
        // Nothing listens on port 1, so the client would retry until its one-hour deadline. The bound below only
        // keeps a regression from hanging the suite; it is no timing (CPU-bound tests may delay this task).
        let client = QuorumClient(endpoints: ["127.0.0.1:1"], timeout: .seconds(3600))
        let call = Task { try await client.put(Array("k".utf8), Array("v".utf8)) }
        call.cancel()
        let outcome: QuorumClientError?? = try await Patience.within(seconds: 600) { () async -> QuorumClientError? in
            do {
                _ = try await call.value
                return nil
            } catch {
                return error as? QuorumClientError
            }
        }
        #expect(outcome == QuorumClientError.cancelled, "the cancelled call went on retrying, or ended otherwise")
        await client.close()
    }
}
