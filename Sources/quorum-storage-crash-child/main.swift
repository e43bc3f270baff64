// A child process for QuorumStorageTests' crash test: it recovers the write-ahead log in a data directory, then
// appends batches of entries forever, syncing each batch and printing `ack <index>` for the last entry of the
// batch only after the sync returned. The test SIGKILLs it at random moments and checks that every
// acknowledged entry survived.
//
// Usage: quorum-storage-crash-child <data directory> <seed>
import Foundation
import QuorumConsensus
import QuorumStorage

/// The payload every test and child agree on for `index`, so that recovery can check content, not just count.
func payload(for index: UInt64) -> [UInt8] {
    (0..<(10 + index % 90)).map { UInt8(truncatingIfNeeded: index &* 131 &+ $0 &* 7) }
}

/// Writes in small pieces, one system call each, so that a SIGKILL often lands in the middle of a record and
/// recovery has a torn tail to cut (a kill between two whole writes would never tear anything).
struct PiecewiseFileIO: FileIO {
    let real = PosixFileIO()
    let pieceBytes = 48

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

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("crash child: \(message)\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let seed = UInt64(arguments[2]) else {
    fail("usage: quorum-storage-crash-child <data directory> <seed>")
}
var random = SplitMix64(seed: seed)

do {
    let directory = try DataDirectory(path: arguments[1])
    // Small segments so that the test crosses segment boundaries often.
    let options = WriteAheadLog.Options(segmentBytes: 16 << 10, io: PiecewiseFileIO())
    let (log, recovery) = try WriteAheadLog.open(directory: directory.writeAheadLogPath, options: options)
    var next = (recovery.entries.last?.index.rawValue ?? 0) + 1
    FileHandle.standardOutput.write(Data("start \(next - 1)\n".utf8))
    while true {
        let batchSize = 1 + Int(random.next() % 16)
        let entries = (0..<UInt64(batchSize)).map { offset in
            Entry(term: 1, index: LogIndex(next + offset), kind: .command(payload(for: next + offset)))
        }
        try log.append(entries)
        next += UInt64(batchSize)
        try log.append(HardState(term: 1, votedFor: 1, commitIndex: LogIndex(next - 1)))
        try log.sync()
        FileHandle.standardOutput.write(Data("ack \(next - 1)\n".utf8))
    }
} catch {
    fail("\(error)")
}
