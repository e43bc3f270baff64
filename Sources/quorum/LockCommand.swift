import ArgumentParser
import Foundation
import QuorumClient
import Synchronization

/// `quorum lock NAME`: holds a lock for as long as this process lives and its standard input stays open, as
/// `etcdctl lock` does. Scripts read the fencing token from the first line and pass it to what they guard.
struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Wait for a lock, print its fencing token, and hold it until standard input closes.",
        discussion: """
            Prints 'acquired NAME token N' once held. Exits 0 after releasing when standard input reaches its end, \
            and 2 if the lock is lost first (the session's lease ended, for instance after the process was \
            stopped past its TTL): a holder that lost its lock must stop acting on it.
            """)

    @OptionGroup var options: ClientOptions
    @Argument var name: String
    @Option(help: "Seconds the lock outlives this process if it dies or stalls.") var ttl: Int = 10
    @Option(help: "Milliseconds the lock stays unavailable after a holder is lost (every client of NAME must agree).")
    var lockDelay: Int = 0
    @Option(help: "Give up after this many seconds of waiting (default: wait as long as it takes).")
    var waitTimeout: Int?

    func run() async throws {
        let client = try options.makeClient()
        let lockOptions = LockOptions(timeout: waitTimeout.map { .seconds($0) }, lockDelay: .milliseconds(lockDelay))
        let hold: LockHandle
        do {
            hold = try await client.lock(name, ttl: .seconds(ttl), options: lockOptions)
        } catch {
            FileHandle.standardError.write(Data("quorum: \(error)\n".utf8))
            throw ExitCode.failure
        }
        // Written unbuffered: a script waits for this line before it acts.
        FileHandle.standardOutput.write(Data("acquired \(name) token \(hold.token)\n".utf8))
        let ended = await firstEnding(of: hold)
        guard ended == .inputClosed else {
            FileHandle.standardError.write(Data("quorum: lost the lock \(name) (token \(hold.token)): its session ended\n".utf8))
            throw ExitCode(2)
        }
        do {
            try await hold.unlock()
        } catch {
            FileHandle.standardError.write(Data("quorum: releasing \(name): \(error)\n".utf8))
            throw ExitCode.failure
        }
        await client.close()
    }

    private enum Ending: Sendable { case inputClosed, lost }

    /// Whichever comes first: the end of standard input, or the loss of the hold.
    private func firstEnding(of hold: LockHandle) async -> Ending {
        await withCheckedContinuation { continuation in
            let pending = Mutex<CheckedContinuation<Ending, Never>?>(continuation)
            let finish: @Sendable (Ending) -> Void = { ending in pending.withLock { $0.take() }?.resume(returning: ending) }
            // Reading blocks, so on a thread of its own rather than one of the concurrency pool's few.
            Thread.detachNewThread {
                _ = FileHandle.standardInput.readDataToEndOfFile()
                finish(.inputClosed)
            }
            Task {
                await hold.lost()
                finish(.lost)
            }
        }
    }
}
