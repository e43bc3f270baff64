// Write-ahead log throughput: 100-byte entries appended and fdatasynced in batches of 1, 8, 64 and 512, next to
// the floor of this disk measured in the same run by a plain write + fdatasync loop. Issue 3's goals: at batch 1,
// at least 80% of the floor's fsyncs/s; at batch 64 and more, 200,000 entries/s.
//
//   swift run -c release --package-path Benchmarks WALThroughput [seconds per case] [directory]
//
// The disk may be shared with other work, so each case alternates short slices of the log and of the floor
// loop and compares the totals: both see the same disk weather. The directory defaults to a fresh one under the
// system temporary directory (on the disk being measured, not a tmpfs), removed afterwards.
import Foundation
import QuorumConsensus
import QuorumStorage

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments
let secondsPerCase = arguments.count > 1 ? Double(arguments[1]) ?? 4 : 4
let slicesPerCase = 8
let root =
    arguments.count > 2
    ? URL(fileURLWithPath: arguments[2])
    : FileManager.default.temporaryDirectory.appendingPathComponent("wal-throughput-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: root) }

let entryPayloadBytes = 100
let clock = ContinuousClock()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The floor: one 112-byte write (a framed 100-byte entry) and one fdatasync per iteration, nothing else.
final class FloorLoop {
    let descriptor: Int32
    let path: String
    let record = [UInt8](repeating: 0xAB, count: entryPayloadBytes + 12)

    init(path: String) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(descriptor >= 0, "cannot create \(path)")
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// Runs for `duration` seconds; returns (fsyncs, elapsed seconds).
    func run(for duration: Double) -> (Int, Double) {
        var count = 0
        let start = clock.now
        while seconds(clock.now - start) < duration {
            let written = record.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            precondition(written == record.count, "short write")
            precondition(fdatasync(descriptor) == 0, "fdatasync failed")
            count += 1
        }
        return (count, seconds(clock.now - start))
    }
}

/// Appends batches of `batchSize` entries (100-byte commands), syncing after each batch.
final class LogLoop {
    let log: WriteAheadLog
    let batchSize: Int
    let command = [UInt8](repeating: 0xCD, count: entryPayloadBytes)
    var nextIndex: UInt64 = 1

    init(directory: String, batchSize: Int) throws {
        (log, _) = try WriteAheadLog.open(directory: directory)
        self.batchSize = batchSize
    }

    /// Runs for `duration` seconds; returns (entries, fsyncs, elapsed seconds).
    func run(for duration: Double) throws -> (Int, Int, Double) {
        let firstIndex = nextIndex
        var syncs = 0
        let start = clock.now
        while seconds(clock.now - start) < duration {
            var batch: [Entry] = []
            batch.reserveCapacity(batchSize)
            for _ in 0..<batchSize {
                batch.append(Entry(term: 1, index: LogIndex(nextIndex), kind: .command(command)))
                nextIndex += 1
            }
            // One group: the node's shared log with a single group in it, as a node hosting one group has.
            try log.append(batch, for: GroupID(1))
            try log.sync()
            syncs += 1
        }
        return (Int(nextIndex - firstIndex), syncs, seconds(clock.now - start))
    }
}

func format(_ value: Double) -> String { String(format: "%10.0f", value) }

print("WALThroughput: \(entryPayloadBytes)-byte entries, \(secondsPerCase) s per case, in \(root.path)")
print("batch   entries/s    fsyncs/s   floor fsyncs/s   fsyncs vs floor")
let floor = FloorLoop(path: root.appendingPathComponent("floor").path)
for batchSize in [1, 8, 64, 512] {
    let loop = try LogLoop(directory: root.appendingPathComponent("wal-\(batchSize)").path, batchSize: batchSize)
    var floorSyncs = 0
    var floorSeconds = 0.0
    var entries = 0
    var syncs = 0
    var logSeconds = 0.0
    let slice = secondsPerCase / Double(2 * slicesPerCase)
    for _ in 0..<slicesPerCase {
        let (floorCount, floorElapsed) = floor.run(for: slice)
        floorSyncs += floorCount
        floorSeconds += floorElapsed
        let (entryCount, syncCount, elapsed) = try loop.run(for: slice)
        entries += entryCount
        syncs += syncCount
        logSeconds += elapsed
    }
    loop.log.close()
    let floorRate = Double(floorSyncs) / floorSeconds
    let syncRate = Double(syncs) / logSeconds
    print(
        String(format: "%5d", batchSize) + "  " + format(Double(entries) / logSeconds) + "  " + format(syncRate)
            + "       " + format(floorRate) + String(format: "        %6.1f%%", syncRate / floorRate * 100))
}
