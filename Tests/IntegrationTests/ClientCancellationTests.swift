import QuorumClient
import Testing

@Suite("Client cancellation")
struct ClientCancellationTests {
    @Test("cancelling a call stops its retries at once instead of waiting out the deadline")
    func cancellationStopsRetries() async throws {
        // Nothing listens on port 1, so the client would retry until its 60-second deadline.
        let client = QuorumClient(endpoints: ["127.0.0.1:1"], timeout: .seconds(60))
        let clock = ContinuousClock()
        let started = clock.now
        let call = Task { try await client.put(Array("k".utf8), Array("v".utf8)) }
        call.cancel()
        await #expect(throws: QuorumClientError.cancelled) { try await call.value }
        #expect(started.duration(to: clock.now) < .seconds(30), "the call waited for its deadline")
        await client.close()
    }
}
