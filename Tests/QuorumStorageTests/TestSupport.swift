import Foundation
import QuorumConsensus
import Synchronization
import Testing

@testable import QuorumStorage

/// Creates a fresh directory under the system temporary directory, runs `body`, and removes it.
func withTemporaryDirectory<Result>(_ body: (String) throws -> Result) throws -> Result {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "quorum-storage-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

/// The payload the crash child writes for `index`; tests use it too so that content can be checked.
func payload(for index: UInt64) -> [UInt8] {
    (0..<(10 + index % 90)).map { UInt8(truncatingIfNeeded: index &* 131 &+ $0 &* 7) }
}

/// What the crash child writes as entry `index` of `group` in its many-group mode (its `groupPayload`).
func crashChildPayload(_ group: UInt64, _ index: UInt64) -> [UInt8] {
    [UInt8(truncatingIfNeeded: group)] + payload(for: index &+ group &* 7919)
}

func command(_ index: UInt64, term: Term = 1) -> Entry {
    Entry(term: term, index: LogIndex(index), kind: .command(payload(for: index)))
}

func commands(_ range: ClosedRange<UInt64>, term: Term = 1) -> [Entry] { range.map { command($0, term: term) } }

func readBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func flipBit(in path: String, atByte offset: Int, bit: Int = 0) throws {
    var bytes = try readBytes(path)
    bytes[offset] ^= UInt8(1 << bit)
    try writeBytes(bytes, to: path)
}

/// Expects `body` to throw a `StorageError` and returns it.
func expectStorageError<T>(_ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation) -> StorageError? {
    do {
        _ = try body()
        Issue.record("expected a StorageError, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as StorageError {
        return error
    } catch {
        Issue.record("expected a StorageError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A `FileIO` that behaves like the real one until a budget of bytes is used up, then fails writes the way a
/// full disk does: the part that fits is written, then ENOSPC. It can also fail every sync (EIO).
final class FaultyFileIO: FileIO {
    private struct State {
        var bytesLeft: Int
        var failSyncs: Bool
    }

    private let state: Mutex<State>
    private let real = PosixFileIO()

    init(bytesAllowed: Int = .max, failSyncs: Bool = false) {
        state = Mutex(State(bytesLeft: bytesAllowed, failSyncs: failSyncs))
    }

    func allow(bytes: Int) { state.withLock { $0.bytesLeft = bytes } }
    func failSyncs(_ fail: Bool) { state.withLock { $0.failSyncs = fail } }

    func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
        let allowed = state.withLock { state in
            let allowed = min(state.bytesLeft, bytes.count)
            state.bytesLeft -= allowed
            return allowed
        }
        try real.write(UnsafeRawBufferPointer(rebasing: bytes[..<allowed]), to: descriptor)
        if allowed < bytes.count { throw SystemCallError("write", errorNumber: ENOSPC) }
    }

    func synchronizeData(of descriptor: Int32) throws(SystemCallError) {
        if state.withLock({ $0.failSyncs }) { throw SystemCallError("fdatasync", errorNumber: EIO) }
        try real.synchronizeData(of: descriptor)
    }

    func synchronize(_ descriptor: Int32) throws(SystemCallError) {
        if state.withLock({ $0.failSyncs }) { throw SystemCallError("fsync", errorNumber: EIO) }
        try real.synchronize(descriptor)
    }
}

func removeFile(_ path: String) throws { try FileManager.default.removeItem(atPath: path) }

/// Start offsets of the records in a WAL segment, in order.
func recordOffsets(in path: String) throws -> [Int] {
    let bytes = try readBytes(path)
    var offsets: [Int] = []
    var offset = 0
    while case .record(_, _, let next) = RecordFrame.parse(
        bytes, at: offset, end: bytes.count, payloadBytesMax: 1 << 30)
    {
        offsets.append(offset)
        offset = next
    }
    return offsets
}

/// Opens the log in `directory`, appends `entries` and a hard state, syncs and closes it.
func writeLog(
    _ directory: String, _ entries: [Entry], hardState: HardState? = nil,
    options: WriteAheadLog.Options = .init()
) throws {
    let (log, _) = try WriteAheadLog.open(directory: directory, options: options)
    try log.append(entries, for: testGroup)
    if let hardState { try log.append(hardState, for: testGroup) }
    try log.sync()
    log.close()
}

func makeDirectory(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

func moveFile(_ source: String, _ target: String) throws {
    try FileManager.default.moveItem(atPath: source, toPath: target)
}

/// A real `FileIO` that counts data syncs and, once armed, holds the next data sync until released: a test can
/// keep the fsync thread busy while it queues more batches, which makes group commit deterministic to observe.
final class GatedFileIO: FileIO {
    private struct State {
        var dataSyncs = 0
        var armed = false
    }

    private let state = Mutex(State())
    private let gate = DispatchSemaphore(value: 0)
    private let entered = DispatchSemaphore(value: 0)
    private let real = PosixFileIO()

    var dataSyncs: Int { state.withLock { $0.dataSyncs } }

    func arm() { state.withLock { $0.armed = true } }
    /// Waits until the armed sync has started.
    func waitUntilHeld() { entered.wait() }
    func release() { gate.signal() }

    func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
        try real.write(bytes, to: descriptor)
    }

    func synchronizeData(of descriptor: Int32) throws(SystemCallError) {
        let hold = state.withLock { state in
            state.dataSyncs += 1
            defer { state.armed = false }
            return state.armed
        }
        if hold {
            entered.signal()
            gate.wait()
        }
        try real.synchronizeData(of: descriptor)
    }

    func synchronize(_ descriptor: Int32) throws(SystemCallError) { try real.synchronize(descriptor) }
}

/// A real `FileIO` that simulates the process dying at a chosen step of a segment rollover: from that call on,
/// every write and sync fails without touching the disk, so the files stay exactly as the crash left them.
final class CrashingFileIO: FileIO {
    enum Step: Sendable, CustomStringConvertible {
        /// The spare's fdatasync: it holds the new segment's header and hard state but has not been renamed.
        case spareDataSync
        /// The directory fsync after the rename: the new segment has its name, which a crash may or may not keep.
        case directorySync

        var description: String {
            switch self {
            case .spareDataSync: "the spare's fdatasync, before its rename"
            case .directorySync: "the directory fsync after the rename"
            }
        }
    }

    private struct State {
        var armed: Step?
        var crashed = false
    }

    private let state = Mutex(State())
    private let sparePath: String
    private let real = PosixFileIO()

    init(logDirectory: String) { sparePath = logDirectory + "/" + SegmentFile.spareFileName }

    func arm(_ step: Step) { state.withLock { $0.armed = step } }
    var crashed: Bool { state.withLock { $0.crashed } }

    func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemCallError) {
        try crashIfDue("write", at: nil, descriptor)
        try real.write(bytes, to: descriptor)
    }

    func synchronizeData(of descriptor: Int32) throws(SystemCallError) {
        try crashIfDue("fdatasync", at: .spareDataSync, descriptor)
        try real.synchronizeData(of: descriptor)
    }

    func synchronize(_ descriptor: Int32) throws(SystemCallError) {
        try crashIfDue("fsync", at: .directorySync, descriptor)
        try real.synchronize(descriptor)
    }

    /// Throws if the crash happened already, or happens now because `descriptor` is what the armed step syncs.
    private func crashIfDue(_ function: String, at step: Step?, _ descriptor: Int32) throws(SystemCallError) {
        let due = state.withLock { state in
            if !state.crashed, let step, state.armed == step, isTarget(of: step, descriptor) { state.crashed = true }
            return state.crashed
        }
        if due { throw SystemCallError(function, errorNumber: EIO) }
    }

    private func isTarget(of step: Step, _ descriptor: Int32) -> Bool {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return false }
        switch step {
        case .spareDataSync:
            var spare = stat()
            return stat(sparePath, &spare) == 0 && spare.st_dev == status.st_dev && spare.st_ino == status.st_ino
        case .directorySync:
            return status.st_mode & S_IFMT == S_IFDIR
        }
    }
}

/// The status of the file at `path` (stat(2)), or nil if there is none.
func fileStatus(_ path: String) -> stat? {
    var status = stat()
    return stat(path, &status) == 0 ? status : nil
}

/// The group the single-group log tests write.
let testGroup = GroupID(1)

extension WriteAheadLogRecovery {
    // What the log holds of `testGroup`, for the tests that write one group only.
    var entries: [Entry] { group(testGroup).entries }
    var hardState: HardState? { group(testGroup).hardState }
    var snapshotReset: SnapshotPoint? { group(testGroup).snapshotReset }
}
