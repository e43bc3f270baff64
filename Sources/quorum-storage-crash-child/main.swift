// A child process for QuorumStorageTests' crash tests. The test SIGKILLs it at random moments and checks that
// every acknowledged entry survived.
//
// Usage: quorum-storage-crash-child <data directory> <seed> [<groups>]
//
// Without <groups>: recovers the write-ahead log in a data directory, then appends batches of entries of one
// group forever, syncing each batch and printing `ack <index>` for the last entry of the batch only after the
// sync returned.
//
// With <groups>: opens a NodeLogStorage on the directory and that many groups in it (1...groups), prints
// `start <group> <last index recovered>` for each, then keeps one batch of each group in flight, in random
// order, so that group commits carry records of many groups interleaved. Each group's `onDurable` prints
// `ack <group> <index>` (called only after the fdatasync that covers it). Entries of group g carry
// `groupPayload(g, index)`, so a record of one group that reached another is seen. Every group snapshots
// (`groupSnapshot`) every 16 acknowledged entries; the last writes rarely, so its snapshots fall behind and it is
// rewritten when the log exceeds its limit of four segments.
import Foundation
import QuorumConsensus
import QuorumNode
import QuorumStorage

/// The payload every test and child agree on for `index`, so that recovery can check content, not just count.
func payload(for index: UInt64) -> [UInt8] {
    (0..<(10 + index % 90)).map { UInt8(truncatingIfNeeded: index &* 131 &+ $0 &* 7) }
}

/// Writes in small pieces, one system call each, so that a SIGKILL often lands in the middle of a record and
/// recovery has a torn tail to cut (a kill between two whole writes would never tear anything).
struct PiecewiseFileIO: FileIO {
    let real = PosixFileIO()
    var pieceBytes = 48

    func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
        var start = 0
        while start < bytes.count {
            let end = min(start + pieceBytes, bytes.count)
            try real.write(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), to: descriptor)
            start = end
            // Widen the window in which a kill tears a record; the test is about correctness, not speed.
            if start < bytes.count { usleep(100) }
        }
    }

    func synchronizeData(of descriptor: Int32) throws(SystemCallError) { try real.synchronizeData(of: descriptor) }
    func synchronize(_ descriptor: Int32) throws(SystemCallError) { try real.synchronize(descriptor) }
}

/// The payload of entry `index` of `group` in the many-group mode: every group's differ.
func groupPayload(_ group: UInt64, _ index: UInt64) -> [UInt8] {
    [UInt8(truncatingIfNeeded: group)] + payload(for: index &+ group &* 7919)
}

/// The snapshot group `group` takes at `index` in the many-group mode; its data names both.
func groupSnapshot(_ group: UInt64, at index: UInt64) -> Snapshot {
    Snapshot(
        lastIncludedIndex: LogIndex(index), lastIncludedTerm: 1, configuration: Configuration(voters: [NodeID(group)]),
        data: Array("g\(group) through \(index)".utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("crash child: \(message)\n".utf8))
    exit(2)
}

/// How far each group's batches were acknowledged, shared by the main thread and the fsync thread.
final class Acknowledgements: @unchecked Sendable {
    // @unchecked Sendable: `acknowledged` is only touched while holding `lock`.
    private let lock = NSLock()
    private var acknowledged: [UInt64: UInt64] = [:]
    let someoneAcknowledged = DispatchSemaphore(value: 0)

    func record(_ group: UInt64, _ index: UInt64) {
        lock.lock()
        acknowledged[group] = max(acknowledged[group] ?? 0, index)
        lock.unlock()
        FileHandle.standardOutput.write(Data("ack \(group) \(index)\n".utf8))
        someoneAcknowledged.signal()
    }

    /// Notes what a group recovered, without printing an acknowledgement.
    func recover(_ group: UInt64, _ index: UInt64) {
        lock.lock()
        acknowledged[group] = index
        lock.unlock()
    }

    func highest(_ group: UInt64) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return acknowledged[group] ?? 0
    }
}

/// The many-group mode: see the comment at the top.
func runGroups(path: String, groupCount: UInt64, random: inout SplitMix64) throws -> Never {
    let options = NodeLogStorage.Options(
        // Larger pieces than the one-group mode: a group commit of sixteen groups is larger, and the pauses between
        // pieces would otherwise leave little time for anything to be acknowledged before the kill.
        // Four segments at most before the lagging group is rewritten, so that kills land in releases and
        // rewrites too.
        writeAheadLog: WriteAheadLog.Options(
            segmentBytes: 16 << 10, segmentCountLimit: 4, io: PiecewiseFileIO(pieceBytes: 256)))
    let node = try NodeLogStorage(path: path, options: options)
    let acknowledgements = Acknowledgements()
    var storages: [UInt64: GroupLogStorage] = [:]
    var submitted: [UInt64: UInt64] = [:]
    var snapshotted: [UInt64: UInt64] = [:]
    for group in 1...groupCount {
        let storage = try node.openGroup(
            GroupID(group), onDurable: { acknowledgements.record(group, $0) },
            onFailure: { fail("\(GroupID(group)) failed: \($0)") })
        storages[group] = storage
        let recovered = storage.recovered
        submitted[group] = (recovered.entries.last?.index ?? recovered.snapshot?.lastIncludedIndex ?? 0).rawValue
        snapshotted[group] = recovered.snapshot?.lastIncludedIndex.rawValue ?? 0
        // What was recovered is as good as acknowledged: the group's next batch may go.
        acknowledgements.recover(group, submitted[group]!)
        FileHandle.standardOutput.write(Data("start \(group) \(submitted[group]!)\n".utf8))
    }
    while true {
        var free = (1...groupCount).filter { acknowledgements.highest($0) >= submitted[$0]! }
        free.shuffle(using: &random)
        for group in free {
            // The last group lags: it writes rarely, so its snapshots fall behind and it holds back old segments
            // until it is rewritten.
            let lagging = group == groupCount && groupCount > 1
            if lagging && random.next() % 40 != 0 { continue }
            // Every group snapshots every 16 acknowledged entries (the lagging one every 8, so that its live log
            // stays small enough to be rewritten), and segments are released behind them.
            let acknowledged = acknowledgements.highest(group)
            if acknowledged >= snapshotted[group]! + (lagging ? 8 : 16) {
                storages[group]!.saveSnapshot(groupSnapshot(group, at: acknowledged))
                snapshotted[group] = acknowledged
            }
            let first = submitted[group]! + 1
            let last = first + random.next() % (lagging ? 2 : 8)
            let entries = (first...last).map {
                Entry(term: 1, index: LogIndex($0), kind: .command(groupPayload(group, $0)))
            }
            // The ready number is the last index, so that an acknowledgement names the entry it covers.
            try storages[group]!.submit(
                PersistBatch(
                    readyNumber: last, snapshot: nil, entries: entries,
                    hardState: HardState(term: 1, votedFor: NodeID(group), commitIndex: LogIndex(last)),
                    mustSync: true))
            submitted[group] = last
        }
        acknowledgements.someoneAcknowledged.wait()
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 3 || arguments.count == 4, let seed = UInt64(arguments[2]) else {
    fail("usage: quorum-storage-crash-child <data directory> <seed> [<groups>]")
}
var random = SplitMix64(seed: seed)

if arguments.count == 4 {
    guard let groups = UInt64(arguments[3]), groups >= 1 else { fail("<groups> must be a positive number") }
    do { try runGroups(path: arguments[1], groupCount: groups, random: &random) } catch { fail("\(error)") }
}

let group = GroupID(1)
do {
    let directory = try DataDirectory(path: arguments[1])
    // Small segments so that the test crosses segment boundaries often.
    let options = WriteAheadLog.Options(segmentBytes: 16 << 10, io: PiecewiseFileIO())
    let (log, recovery) = try WriteAheadLog.open(directory: directory.writeAheadLogPath, options: options)
    var next = (recovery.group(group).entries.last?.index.rawValue ?? 0) + 1
    FileHandle.standardOutput.write(Data("start \(next - 1)\n".utf8))
    while true {
        let batchSize = 1 + Int(random.next() % 16)
        let entries = (0..<UInt64(batchSize)).map { offset in
            Entry(term: 1, index: LogIndex(next + offset), kind: .command(payload(for: next + offset)))
        }
        try log.append(entries, for: group)
        next += UInt64(batchSize)
        try log.append(HardState(term: 1, votedFor: 1, commitIndex: LogIndex(next - 1)), for: group)
        try log.sync()
        FileHandle.standardOutput.write(Data("ack \(next - 1)\n".utf8))
    }
} catch {
    fail("\(error)")
}
