import NIOCore
import Testing

@testable import QuorumServer

@Suite("Answer deadlines")
struct AnswerDeadlinesTests {
    /// Stands in for a waiting request: answered by the runtime, or expired.
    final class Waiter: ExpiringAnswer {
        var isAnswered = false
        var expired = 0

        func expire() {
            if !isAnswered { expired += 1 }
            isAnswered = true
        }
    }

    @Test("an answer expires once due and not before; answered ones are forgotten without expiring")
    func expiresInOrder() {
        let deadlines = AnswerDeadlines()
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let waiters = (0..<4).map { _ in Waiter() }
        for (offset, waiter) in waiters.enumerated() {
            deadlines.add(waiter, due: start + .seconds(Int64(offset)))
        }
        deadlines.expire(now: start - .nanoseconds(1))
        #expect(waiters.map(\.expired) == [0, 0, 0, 0])

        // The second is answered in time; the first is due and expires, the second goes without expiring.
        waiters[1].isAnswered = true
        deadlines.expire(now: start + .seconds(1))
        #expect(waiters.map(\.expired) == [1, 0, 0, 0])

        // The fourth, answered early, stays queued behind the third until the third is due.
        waiters[3].isAnswered = true
        deadlines.expire(now: start + .seconds(2) - .nanoseconds(1))
        #expect(waiters.map(\.expired) == [1, 0, 0, 0])
        deadlines.expire(now: start + .seconds(2))
        #expect(waiters.map(\.expired) == [1, 0, 1, 0])

        // Nothing is left to expire, however late.
        deadlines.expire(now: start + .seconds(3600))
        #expect(waiters.map(\.expired) == [1, 0, 1, 0])
    }
}
