import Foundation
import QuorumConsensus
import QuorumStore
import Synchronization
import Testing

@testable import QuorumClient

#if canImport(Glibc)
    import Glibc
#endif

/// Locks, elections and their fencing tokens against real `quorum server` processes. Extends `ClusterTests` so
/// that its clusters run one at a time with the others.
extension ClusterTests {
    /// What the guarded resource of the contention test keeps.
    struct GuardedCounter {
        var inside = 0
        var mostInside = 0
        var count = 0
        var tokens: [UInt64] = []
    }

    @Test(
        "16 clients contend for one lock while the leader is killed: sections never overlap, tokens only grow",
        arguments: ConsensusKind.allCases)
    func mutualExclusionUnderContention(consensus: ConsensusKind) async throws {
        let (cluster, observer) = try await Self.startCluster(arguments: ["--consensus", consensus.rawValue])
        defer { cluster.stopAll() }
        let resource = FencedResource(GuardedCounter())
        let rejected = Shared(0)
        let contenders = 16
        let roundsEach = 6
        let rounds = Shared(0)
        let endpoints = cluster.clientEndpoints
        let workers = (0..<contenders).map { _ in
            Task {
                let client = QuorumClient(endpoints: endpoints, timeout: .seconds(15))
                let session = try await Session(client: client, ttl: .seconds(10))
                for _ in 0..<roundsEach {
                    let hold = try await client.lock("counter", session: session)
                    do {
                        try resource.write(token: hold.token) { state in
                            state.inside += 1
                            state.mostInside = max(state.mostInside, state.inside)
                        }
                        // Let other tasks run inside the section, so that an overlap would show.
                        try await Task.sleep(for: .milliseconds(1))
                        try resource.write(token: hold.token) { state in
                            state.inside -= 1
                            state.count += 1
                            state.tokens.append(hold.token)
                        }
                    } catch is StaleTokenError {
                        rejected.update { $0 += 1 }
                    }
                    try await hold.unlock()
                    rounds.update { $0 += 1 }
                }
                try await session.close()
                await client.close()
            }
        }
        // Kill the leader a third of the way through.
        while rounds.value < contenders * roundsEach / 3 { try await Task.sleep(for: .milliseconds(20)) }
        let leader = try await Self.awaitLeader(observer, cluster)
        cluster.kill(leader)
        // Bounded, so that a waiter stuck after the failover fails the test instead of hanging the suite.
        let finished = try await Patience.within(seconds: 120) {
            for worker in workers { try await worker.value }
            return true
        }
        guard finished == true else {
            for worker in workers { worker.cancel() }
            Issue.record("the contenders did not finish within 120 s of the leader's death")
            return
        }

        let final = resource.state
        #expect(final.mostInside == 1, "two holders were inside the critical section at once")
        #expect(final.count == contenders * roundsEach)
        #expect(rejected.value == 0, "no holder was paused, so none should have been fenced off")
        #expect(zip(final.tokens, final.tokens.dropFirst()).allSatisfy { $0 < $1 }, "tokens must only grow")
        await observer.close()
    }

    @Test("waiters acquire in the order they arrived")
    func fairness() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let session = try await Session(client: client, ttl: .seconds(10))
        let first = try await client.lock("fair", session: session)
        let queue = LockQueue(client: client, kind: "locks", name: "fair")
        let order = Shared<[Int]>([])
        var waiters: [Task<Void, any Error>] = []
        for index in 1...6 {
            waiters.append(
                Task {
                    let own = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
                    let hold = try await own.lock("fair", ttl: .seconds(10))
                    order.update { $0.append(index) }
                    try await hold.unlock()
                    await own.close()
                })
            // The next waiter starts only once this one stands in the queue: that fixes the arrival order.
            while try await queue.contenders().queue.count < index + 1 { try await Task.sleep(for: .milliseconds(10)) }
        }
        try await first.unlock()
        for waiter in waiters { try await waiter.value }
        #expect(order.value == Array(1...6))
        try await session.close()
        await client.close()
    }

    @Test("a holder stopped with SIGSTOP past its TTL loses the lock: the next holder's token is larger and the old one is refused")
    func pausedHolderIsFencedOff() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let holder = try LockHolderProcess(cluster: cluster, name: "paused", ttlSeconds: 1)
        defer { holder.end() }
        let pausedToken = try holder.awaitToken()
        let queue = LockQueue(client: client, kind: "locks", name: "paused")
        let pausedKey = try #require(try await queue.contenders().queue.first)
        #expect(pausedKey.token.rawValue == pausedToken)

        let resource = FencedResource([String]())
        try resource.write(token: pausedToken) { $0.append("written by the first holder") }
        holder.signal(SIGSTOP)
        // The stopped process renews nothing: its lease expires and the lock passes on.
        let next = try await client.lock("paused", ttl: .seconds(10))
        #expect(next.token > pausedToken)
        try resource.write(token: next.token) { $0.append("written by the next holder") }
        holder.signal(SIGCONT)

        // The resumed holder learns it lost the lock and exits with status 2, saying so.
        #expect(holder.awaitExit() == 2)
        // Its late writes are refused: by the resource, and by Quorum itself for a fenced transaction.
        #expect(throws: StaleTokenError(presented: pausedToken, largestSeen: next.token)) {
            try resource.write(token: pausedToken) { $0.append("late write of the paused holder") }
        }
        let late = try await client.transaction(
            TransactionRequest(
                compare: [pausedKey.isStillQueued],
                success: [.put(PutRequest(key: Array("guarded".utf8), value: Array("late".utf8)))]))
        #expect(!late.succeeded)
        #expect(resource.state == ["written by the first holder", "written by the next holder"])
        try await next.unlock()
        await client.close()
    }

    @Test("a holder killed with SIGKILL hands the lock to the waiter after its TTL")
    func killedHolderHandsOver() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let holder = try LockHolderProcess(cluster: cluster, name: "killed", ttlSeconds: 1)
        defer { holder.end() }
        let killedToken = try holder.awaitToken()
        let waiting = Task { try await client.lock("killed", ttl: .seconds(10)) }
        let queue = LockQueue(client: client, kind: "locks", name: "killed")
        while try await queue.contenders().queue.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
        holder.signal(SIGKILL)
        let next = try await waiting.value
        #expect(next.token > killedToken)
        try await next.unlock()
        await client.close()
    }

    @Test("a lost holder's fenced transaction is refused; tryLock, lock-delay, read-write locks and semaphores")
    func recipes() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let other = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        let session = try await Session(client: client, ttl: .seconds(10))
        let otherSession = try await Session(client: other, ttl: .seconds(10))

        // tryLock: refused while held, without leaving a waiter behind; granted once released.
        let held = try await client.lock("try", session: session)
        #expect(try await other.tryLock("try", session: otherSession) == nil)
        #expect(try await LockQueue(client: client, kind: "locks", name: "try").contenders().queue.count == 1)
        _ = try await held.fencedTransaction(
            TransactionRequest(compare: [], success: [.put(PutRequest(key: Array("fenced".utf8), value: [1]))]))
        try await held.unlock()
        let taken = try #require(try await other.tryLock("try", session: otherSession))
        try await taken.unlock()

        // A holder whose session lapses (a pause) cannot write through its old hold once the lock moved on;
        // and with a lock-delay, the next holder waits that long after the loss before taking over.
        let pausing = try await Session(client: client, ttl: .milliseconds(600))
        let delay = LockOptions(lockDelay: .milliseconds(1_500))
        let lapsing = try await client.lock("delayed", session: pausing, options: delay)
        let lapsingKey = try await client.watch(lapsing.contender.key)
        pausing.abandon()
        let waiter = Task { try await other.lock("delayed", session: otherSession, options: delay) }
        for try await events in lapsingKey where events.contains(where: { $0.kind == .delete }) { break }
        let lostAt = ContinuousClock.now
        let successor = try await waiter.value
        #expect(ContinuousClock.now - lostAt >= .milliseconds(1_400), "the lock-delay was not honoured")
        #expect(successor.token > lapsing.token)
        await #expect(throws: QuorumClientError.sessionLost(pausing.lease)) {
            _ = try await lapsing.fencedTransaction(
                TransactionRequest(compare: [], success: [.put(PutRequest(key: Array("fenced".utf8), value: [2]))]))
        }
        #expect(try await client.get(Array("fenced".utf8))?.value == [1])
        try await successor.unlock()

        // With tryLock alone the delay also ends: the first try after the loss starts it, later ones succeed.
        let lapsingAgain = try await Session(client: client, ttl: .milliseconds(600))
        let lost = try await client.lock("tried", session: lapsingAgain, options: delay)
        let lostKey = try await client.watch(lost.contender.key)
        lapsingAgain.abandon()
        for try await events in lostKey where events.contains(where: { $0.kind == .delete }) { break }
        let triedLostAt = ContinuousClock.now
        #expect(try await other.tryLock("tried", session: otherSession, lockDelay: delay.lockDelay) == nil)
        var tried: LockHandle?
        for _ in 0..<100 where tried == nil {
            tried = try await other.tryLock("tried", session: otherSession, lockDelay: delay.lockDelay)
            if tried == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let triedHold = try #require(tried, "the lock-delay never ended for tryLock")
        #expect(ContinuousClock.now - triedLostAt >= .milliseconds(1_400), "tryLock got the lock inside the delay")
        try await triedHold.unlock()

        // Read-write: readers share; a writer waits for them; a reader behind a waiting writer waits too.
        let reader1 = try await client.readLock("rw", session: session)
        let reader2 = try await other.readLock("rw", session: otherSession)
        let writer = Task { try await client.writeLock("rw", session: session) }
        let rwQueue = LockQueue(client: client, kind: "rwlocks", name: "rw")
        while try await rwQueue.contenders().queue.count < 3 { try await Task.sleep(for: .milliseconds(10)) }
        let lateReader = Task { try await other.readLock("rw", session: otherSession) }
        while try await rwQueue.contenders().queue.count < 4 { try await Task.sleep(for: .milliseconds(10)) }
        try await reader1.unlock()
        try await reader2.unlock()
        let writeHold = try await writer.value
        #expect(try await rwQueue.contenders().queue.count == 2, "the late reader still waits behind the writer")
        try await writeHold.unlock()
        let lateHold = try await lateReader.value
        #expect(lateHold.token > writeHold.token)
        try await lateHold.unlock()

        // A semaphore of two permits: a third contender waits until one is returned.
        let permit1 = try await client.acquirePermit("pool", permits: 2, session: session)
        let permit2 = try await other.acquirePermit("pool", permits: 2, session: otherSession)
        let third = Task { try await client.acquirePermit("pool", permits: 2, session: session) }
        let pool = LockQueue(client: client, kind: "semaphores", name: "pool")
        while try await pool.contenders().queue.count < 3 { try await Task.sleep(for: .milliseconds(10)) }
        try await permit1.unlock()
        let permit3 = try await third.value
        try await permit2.unlock()
        try await permit3.unlock()

        try await session.close()
        try await otherSession.close()
        await client.close()
        await other.close()
    }

    @Test("elections: the first candidate leads, observers follow proclaims and resignations, tokens grow")
    func election() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let other = QuorumClient(endpoints: cluster.clientEndpoints, timeout: .seconds(10))
        let session = try await Session(client: client, ttl: .seconds(10))
        let otherSession = try await Session(client: other, ttl: .seconds(10))
        var observed = client.observeLeader(of: "primary").makeAsyncIterator()
        #expect(try await observed.next() == .some(nil), "nobody leads yet")

        let first = try await client.campaign("primary", value: Array("node-a".utf8), session: session)
        #expect(try await observed.next()??.value == Array("node-a".utf8))
        let second = Task { try await other.campaign("primary", value: Array("node-b".utf8), session: otherSession) }
        try await first.proclaim(Array("node-a v2".utf8))
        #expect(try await observed.next()??.value == Array("node-a v2".utf8))
        #expect(try await client.leader(of: "primary")?.token == first.token)

        try await first.resign()
        let successor = try await second.value
        let seen = try await observed.next()
        #expect(seen??.value == Array("node-b".utf8))
        #expect(successor.token > first.token)
        #expect(seen??.token == successor.token)
        await #expect(throws: QuorumClientError.sessionLost(session.lease)) {
            try await first.proclaim(Array("deposed".utf8))
        }
        try await successor.resign()
        try await session.close()
        try await otherSession.close()
        await client.close()
        await other.close()
    }
}

/// A value that concurrent test tasks update.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { mutex.withLock { body(&$0) } }
}

/// `quorum lock NAME` in a process of its own, so that it can be stopped and killed like a real holder.
final class LockHolderProcess: @unchecked Sendable {
    // @unchecked Sendable: used by the one test that owns it.
    private let process = Process()
    private let output = Pipe()
    private let input = Pipe()

    init(cluster: ClusterProcesses, name: String, ttlSeconds: Int) throws {
        process.executableURL = try ClusterProcesses.quorumExecutable()
        process.arguments = [
            "lock", name, "--ttl", "\(ttlSeconds)", "--endpoints", cluster.clientEndpoints.joined(separator: ","),
        ]
        process.standardOutput = output
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Reads the 'acquired NAME token N' line.
    func awaitToken() throws -> UInt64 {
        var line: [UInt8] = []
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            guard let first = byte.first else { throw HolderFailed(output: String(decoding: line, as: UTF8.self)) }
            if first == UInt8(ascii: "\n") { break }
            line.append(first)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let token = text.split(separator: " ").last.flatMap({ UInt64($0) }) else { throw HolderFailed(output: text) }
        return token
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    func awaitExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    func end() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    struct HolderFailed: Error, CustomStringConvertible {
        var output: String
        var description: String { "quorum lock printed no token: '\(output)'" }
    }
}
