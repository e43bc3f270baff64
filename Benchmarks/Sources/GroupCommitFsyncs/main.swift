// Group commit across consensus groups: how many fdatasyncs each write costs when 1, 8 or 64 groups share one
// node's write-ahead log. Each group keeps one batch (one 100-byte entry and a hard state, synced) in flight, as a
// Raft group's driver does while it waits for its Ready to be persisted, and sends the next once `onDurable`
// reports it. With one group every write needs its own fdatasync; with many, one fdatasync serves every group that
// queued a batch while the previous one ran.
//
//   swift run -c release --package-path Benchmarks GroupCommitFsyncs [seconds per case] [directory]
//
// The directory defaults to a fresh one under the system temporary directory (on the disk being measured, not a
// tmpfs), removed afterwards.
import Foundation
import QuorumConsensus
import QuorumNode
import QuorumStorage
import Synchronization

let arguments = CommandLine.arguments
let secondsPerCase = arguments.count > 1 ? Double(arguments[1]) ?? 4 : 4
let root =
    arguments.count > 2
    ? URL(fileURLWithPath: arguments[2])
    : FileManager.default.temporaryDirectory.appendingPathComponent("group-commit-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: root) }

/// The real file I/O, counting data syncs.
final class CountingFileIO: FileIO {
    let dataSyncs = Atomic<Int>(0)
    private let real = PosixFileIO()

    func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
        try real.write(bytes, to: descriptor)
    }

    func synchronizeData(of descriptor: Int32) throws(SystemCallError) {
        dataSyncs.add(1, ordering: .relaxed)
        try real.synchronizeData(of: descriptor)
    }

    func synchronize(_ descriptor: Int32) throws(SystemCallError) { try real.synchronize(descriptor) }
}

/// Writes acknowledged so far, each group's last acknowledged ready number (written by the fsync thread, read by
/// the writer), and a semaphore the writer waits on for the next acknowledgement.
final class Acknowledged: Sendable {
    let writes = Atomic<Int>(0)
    let durable: Mutex<[UInt64]>
    let signal = DispatchSemaphore(value: 0)

    init(groupCount: Int) { durable = Mutex([UInt64](repeating: 0, count: groupCount)) }
}

/// Runs `groupCount` groups for `duration` seconds; returns (writes, fdatasyncs, elapsed seconds).
func run(groupCount: Int, duration: Double, in directory: String) throws -> (Int, Int, Double) {
    let io = CountingFileIO()
    let node = try NodeLogStorage(path: directory, options: .init(writeAheadLog: .init(io: io)))
    defer { node.close() }
    let acknowledged = Acknowledged(groupCount: groupCount)
    let groups = try (0..<groupCount).map { position in
        try node.openGroup(
            GroupID(UInt64(position + 1)),
            onDurable: { readyNumber in
                acknowledged.durable.withLock { $0[position] = readyNumber }
                acknowledged.writes.add(1, ordering: .relaxed)
                acknowledged.signal.signal()
            },
            onFailure: { error in fatalError("storage failed: \(error)") })
    }
    var submitted = [UInt64](repeating: 0, count: groupCount)
    let command = [UInt8](repeating: 0xCD, count: 100)
    let syncsAtStart = io.dataSyncs.load(ordering: .relaxed)
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start < .milliseconds(Int(duration * 1000)) {
        let durable = acknowledged.durable.withLock { $0 }
        for (position, group) in groups.enumerated() where durable[position] == submitted[position] {
            let index = submitted[position] + 1
            group.persist(
                PersistBatch(
                    readyNumber: index, snapshot: nil,
                    entries: [Entry(term: 1, index: LogIndex(index), kind: .command(command))],
                    hardState: HardState(term: 1, votedFor: 1, commitIndex: LogIndex(index - 1)), mustSync: true))
            submitted[position] = index
        }
        acknowledged.signal.wait()
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (
        acknowledged.writes.load(ordering: .relaxed), io.dataSyncs.load(ordering: .relaxed) - syncsAtStart, seconds
    )
}

print("GroupCommitFsyncs: \(secondsPerCase) s per case, in \(root.path)")
print("| groups | writes/s | fdatasyncs/s | fdatasyncs per write |")
print("|---|---|---|---|")
for groupCount in [1, 8, 64] {
    let (writes, syncs, seconds) = try run(
        groupCount: groupCount, duration: secondsPerCase, in: root.appendingPathComponent("groups-\(groupCount)").path)
    let perWrite = writes == 0 ? 0 : Double(syncs) / Double(writes)
    print(
        "| \(groupCount) | \(String(format: "%.0f", Double(writes) / seconds)) | "
            + "\(String(format: "%.0f", Double(syncs) / seconds)) | \(String(format: "%.3f", perWrite)) |")
}
