import Foundation
import QuorumConsensus
import Testing

@testable import QuorumStorage

/// Kills a real process that appends and fsyncs entries, at random moments, and checks that recovery finds every
/// entry it acknowledged, intact. The child is `quorum-storage-crash-child` (built with the tests by
/// `swift build --build-tests`); it prints `ack <index>` only after the sync covering that index returned.
@Suite("Crash recovery with real processes")
struct CrashRecoveryTests {
    static let rounds = 20
    static let seed: UInt64 =
        ProcessInfo.processInfo.environment["QUORUM_CRASH_SEED"].flatMap { UInt64($0) } ?? 20_261_128

    @Test("a child SIGKILLed at random moments never loses an acknowledged entry")
    func killedChildLosesNothingAcknowledged() throws {
        let child = try Self.childExecutable()
        var random = SplitMix64(seed: Self.seed)
        try withTemporaryDirectory { root in
            let data = root + "/data"
            var acknowledged: UInt64 = 0
            var tornTails = 0
            for round in 0..<Self.rounds {
                let context = "seed \(Self.seed) (QUORUM_CRASH_SEED), round \(round)"
                let run = try Self.runAndKill(
                    child, arguments: [data, String(random.next())],
                    afterAcknowledgements: 1 + Int(random.next() % 100), thenMicroseconds: UInt32(random.next() % 5_000)
                )
                #expect(run.killed, "the child exited on its own: \(run.errors); \(context)")
                if let started = run.started {
                    #expect(
                        started >= acknowledged, "the child recovered \(started) of \(acknowledged) acks; \(context)")
                }
                acknowledged = max(acknowledged, run.highestAcknowledged ?? 0)

                // The kernel released the dead child's lock; recover as the restarted node would.
                let directory = try DataDirectory(path: data)
                defer { directory.close() }
                let (log, recovery) = try WriteAheadLog.open(
                    directory: directory.writeAheadLogPath, options: .init(segmentBytes: 16 << 10))
                log.close()
                if recovery.tornTail != nil { tornTails += 1 }
                #expect(recovery.entries.count >= Int(acknowledged), "lost acknowledged entries; \(context)")
                for (position, entry) in recovery.entries.enumerated() where entry != command(UInt64(position + 1)) {
                    Issue.record("entry \(position + 1) is not what was written: \(entry); \(context)")
                    break
                }
                #expect(recovery.hardState.map { $0.commitIndex.rawValue <= UInt64(recovery.entries.count) } ?? true)
            }
            #expect(acknowledged > 0, "no round acknowledged anything; the child may not be working")
            // Not asserted (it depends on timing), but visible: kills that tore a write were recovered too.
            print(
                "crash test: \(Self.rounds) rounds, \(acknowledged) entries acknowledged, \(tornTails) torn tails cut")
        }
    }

    @Test("16 groups in one log, releasing and rewriting segments, SIGKILLed at random: no acknowledged entry lost")
    func killedManyGroupChildLosesNothingAcknowledged() throws {
        let child = try Self.childExecutable()
        let groupCount: UInt64 = 16
        var random = SplitMix64(seed: Self.seed ^ 0x6772_6F75_7073)
        try withTemporaryDirectory { root in
            let data = root + "/data"
            var acknowledged: [UInt64: UInt64] = [:]
            var tornTails = 0
            var roundsAcknowledging = 0
            for round in 0..<Self.rounds {
                let context = "seed \(Self.seed) (QUORUM_CRASH_SEED), round \(round)"
                let run = try Self.runAndKill(
                    child, arguments: [data, String(random.next()), String(groupCount)],
                    afterAcknowledgements: 16 + Int(random.next() % 200),
                    thenMicroseconds: UInt32(random.next() % 5_000))
                #expect(run.killed, "the child exited on its own: \(run.errors); \(context)")
                for (group, started) in run.startedByGroup {
                    #expect(
                        started >= acknowledged[group] ?? 0,
                        "the child recovered \(started) of \(acknowledged[group] ?? 0) acks of g\(group); \(context)")
                }
                if !run.acknowledgedByGroup.isEmpty { roundsAcknowledging += 1 }
                for (group, highest) in run.acknowledgedByGroup {
                    acknowledged[group] = max(acknowledged[group] ?? 0, highest)
                }

                // Recover as the restarted node would, and check every group's entries are its own, intact.
                let node = try NodeLogStorage(
                    path: data, options: .init(writeAheadLog: .init(segmentBytes: 16 << 10)))
                defer { node.close() }
                if node.tornTail != nil { tornTails += 1 }
                for group in 1...groupCount {
                    let storage = try node.openGroup(GroupID(group), onDurable: { _ in })
                    let entries = storage.recovered.entries
                    let base = storage.recovered.snapshot?.lastIncludedIndex.rawValue ?? 0
                    if let snapshot = storage.recovered.snapshot {
                        #expect(
                            snapshot.data == Array("g\(group) through \(base)".utf8),
                            "g\(group) recovered another's snapshot \(snapshot); \(context)")
                    }
                    let recoveredThrough = entries.last?.index.rawValue ?? base
                    let lost = "\(recoveredThrough) of \(acknowledged[group] ?? 0)"
                    #expect(recoveredThrough >= acknowledged[group] ?? 0, "g\(group) kept \(lost) acks; \(context)")
                    for (position, entry) in entries.enumerated() {
                        let index = base + UInt64(position + 1)
                        let expected = Entry(
                            term: 1, index: LogIndex(index), kind: .command(crashChildPayload(group, index)))
                        if entry != expected {
                            Issue.record("entry \(index) of g\(group) is not what was written: \(entry); \(context)")
                            break
                        }
                    }
                    let hardState = storage.recovered.hardState
                    #expect(hardState.votedFor == nil || hardState.votedFor == NodeID(group), "\(context)")
                    #expect(hardState.commitIndex.rawValue <= recoveredThrough, "\(context)")
                }
            }
            // Segments were released behind the groups' snapshots (and the lagging group's rewrites) all along.
            let files = try Posix.listDirectory(data + "/wal").compactMap(SegmentFile.init(fileName:))
            let segments = files.count
            let created = Int((files.map(\.sequence).max() ?? 0) + 1)
            #expect(created >= 8 && segments * 2 <= created, "\(segments) of \(created) segments kept: none released")
            let total = acknowledged.values.reduce(0, +)
            #expect(acknowledged.count == Int(groupCount), "some group never had a batch acknowledged")
            // A child that recovers but then acknowledges nothing would pass every check above.
            #expect(roundsAcknowledging >= 2, "only \(roundsAcknowledging) rounds acknowledged anything")
            print(
                "crash test (\(groupCount) groups): \(Self.rounds) rounds, \(total) entries acknowledged, "
                    + "\(tornTails) torn tails cut, \(segments) of \(created) segments left"
            )
        }
    }

    struct Run {
        var killed: Bool
        var started: UInt64?
        var highestAcknowledged: UInt64?
        /// The many-group mode's `start <group> <index>` and `ack <group> <index>` lines.
        var startedByGroup: [UInt64: UInt64] = [:]
        var acknowledgedByGroup: [UInt64: UInt64] = [:]
        var errors: String
    }

    /// Starts the child, waits until it has printed `acknowledgements` acks (or ended, or said nothing for a
    /// minute), lets it run `delay` more so that the kill lands anywhere in a write, SIGKILLs it, and parses what it
    /// printed. Counting acks rather than time keeps every round doing real work however loaded the machine is. The
    /// child is always killed and reaped before this returns, even when something fails.
    static func runAndKill(
        _ executable: URL, arguments: [String], afterAcknowledgements acknowledgements: Int,
        thenMicroseconds delay: UInt32
    ) throws -> Run {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        var received = Data()
        let reader = output.fileHandleForReading
        var waiting = pollfd(fd: reader.fileDescriptor, events: Int16(POLLIN), revents: 0)
        while Self.acknowledgementLines(in: received) < acknowledgements, poll(&waiting, 1, 60_000) > 0 {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            received.append(chunk)
        }
        usleep(delay)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        received.append(reader.readDataToEndOfFile())
        let printed = String(decoding: received, as: UTF8.self)
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        var run = Run(killed: process.terminationReason == .uncaughtSignal, errors: complaint)
        // A line cut off by the kill has no newline: only complete lines count.
        for line in printed.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let words = line.split(separator: " ")
            if words.count == 3, let group = UInt64(words[1]), let value = UInt64(words[2]) {
                if words[0] == "start" { run.startedByGroup[group] = value }
                if words[0] == "ack" {
                    run.acknowledgedByGroup[group] = max(run.acknowledgedByGroup[group] ?? 0, value)
                }
                continue
            }
            guard words.count == 2, let value = UInt64(words[1]) else { continue }
            if words[0] == "start" { run.started = value }
            if words[0] == "ack" { run.highestAcknowledged = max(run.highestAcknowledged ?? 0, value) }
        }
        return run
    }

    static func acknowledgementLines(in output: Data) -> Int {
        String(decoding: output, as: UTF8.self).split(separator: "\n").count { $0.hasPrefix("ack ") }
    }

    /// The child binary sits next to the test bundle in the build directory.
    static func childExecutable() throws -> URL {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // On macOS the tests run inside a .xctest bundle: climb out of it.
        while directory.pathComponents.count > 1 && directory.path.contains(".xctest") {
            directory = directory.deletingLastPathComponent()
        }
        let child = directory.appendingPathComponent("quorum-storage-crash-child")
        guard FileManager.default.isExecutableFile(atPath: child.path) else {
            throw ChildMissing(path: child.path)
        }
        return child
    }

    struct ChildMissing: Error, CustomStringConvertible {
        var path: String
        var description: String {
            "\(path) not found; build it with `swift build --build-tests` before `swift test --skip-build`"
        }
    }
}
