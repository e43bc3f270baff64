import Foundation
import QuorumCodec
import QuorumConsensus
import Synchronization
import Testing

@testable import QuorumNode
@testable import QuorumStorage

/// An entry of `group` whose content names the group, so that one that reached another group is seen.
func groupCommand(_ group: UInt64, _ index: UInt64, term: Term = 1) -> Entry {
    Entry(term: term, index: LogIndex(index), kind: .command([UInt8(truncatingIfNeeded: group)] + payload(for: index)))
}

func groupCommands(_ group: UInt64, _ range: ClosedRange<UInt64>, term: Term = 1) -> [Entry] {
    range.map { groupCommand(group, $0, term: term) }
}

@Suite("Node log storage: many groups, one log")
struct NodeLogStorageTests {
    @Test("one fdatasync serves every group with something to persist, and each hears only of its own readies")
    func groupCommitAcrossGroups() throws {
        try withTemporaryDirectory { path in
            let io = GatedFileIO()
            let groupsPerSync = Mutex<[Int]>([])
            let node = try NodeLogStorage(
                path: path,
                options: .init(
                    writeAheadLog: .init(io: io), groupsSynced: { count in groupsPerSync.withLock { $0.append(count) } }))
            defer { node.close() }
            let reports = (1...8).map { _ in Reports() }
            let groups = try (1...8).map { number in
                try node.openGroup(GroupID(UInt64(number)), onDurable: reports[number - 1].onDurable)
            }
            // Hold the fsync thread in a sync of group 1's first batch, queue a batch of every group meanwhile.
            io.arm()
            groups[0].persist(batch(1, entries: [groupCommand(1, 1)]))
            io.waitUntilHeld()
            let syncsBefore = io.dataSyncs
            for (position, group) in groups.enumerated() {
                let number = UInt64(position + 1)
                group.persist(batch(number == 1 ? 2 : 7, entries: [groupCommand(number, number == 1 ? 2 : 1)]))
            }
            io.release()
            for (position, report) in reports.enumerated() {
                #expect(report.wait { $0.durableNumbers.last == (position == 0 ? 2 : 7) })
            }
            // The eight queued batches, of eight groups, were written together and synced once.
            #expect(io.dataSyncs == syncsBefore + 1)
            // One log per group would have needed eight syncs for the second.
            #expect(groupsPerSync.withLock { $0 } == [1, 8])
            #expect(reports[0].durableNumbers == [1, 2])
            for report in reports.dropFirst() { #expect(report.durableNumbers == [7]) }
        }
    }

    @Test("interleaved records of many groups are recovered each into its own group, and no other")
    func groupsRecoveredApart() throws {
        try withTemporaryDirectory { path in
            let options = NodeLogStorage.Options(writeAheadLog: .init(segmentBytes: 4096))
            let node = try NodeLogStorage(path: path, options: options)
            let reports = (1...6).map { _ in Reports() }
            let groups = try (1...6).map {
                try node.openGroup(GroupID(UInt64($0)), onDurable: reports[$0 - 1].onDurable)
            }
            var random = SplitMix64(seed: 5)
            var written = [UInt64](repeating: 0, count: 6)
            var readies = [UInt64](repeating: 0, count: 6)
            for _ in 0..<300 {
                let position = Int(random.next() % 6)
                let group = UInt64(position + 1)
                // Sometimes rewrite the group's last few entries under a new term, as a new leader would.
                let back = min(written[position], random.next() % 4 == 0 ? random.next() % 3 : 0)
                let first = written[position] + 1 - back
                let last = first + random.next() % 3
                readies[position] += 1
                groups[position].persist(
                    batch(
                        readies[position],
                        entries: groupCommands(group, first...last, term: Term(1 + readies[position])),
                        hardState: HardState(term: Term(1 + readies[position]), votedFor: NodeID(group), commitIndex: 0)
                    ))
                written[position] = last
            }
            for (position, report) in reports.enumerated() {
                #expect(report.wait { $0.durableNumbers.last == readies[position] })
            }
            node.close()

            let reopened = try NodeLogStorage(path: path, options: options)
            defer { reopened.close() }
            #expect(reopened.recoveredGroups == (1...6).map { GroupID(UInt64($0)) })
            for position in 0..<6 {
                let group = UInt64(position + 1)
                let storage = try reopened.openGroup(GroupID(group), onDurable: { _ in })
                let entries = storage.recovered.entries
                #expect(entries.count == Int(written[position]))
                #expect(entries.map(\.index) == (1...written[position]).map { LogIndex($0) })
                for entry in entries {
                    guard case .command(let bytes) = entry.kind else {
                        Issue.record("\(entry) is not a command")
                        continue
                    }
                    #expect(bytes.first == UInt8(group), "\(GroupID(group)) recovered another group's entry \(entry)")
                    #expect(Array(bytes.dropFirst()) == payload(for: entry.index.rawValue))
                }
                #expect(storage.recovered.hardState.votedFor == NodeID(group))
                #expect(storage.recovered.hardState.term == Term(1 + readies[position]))
            }
        }
    }

    @Test("destroying a group without waiting refuses it at once and reports when its tombstone is durable")
    func destroyWithoutWaiting() throws {
        try withTemporaryDirectory { path in
            let node = try NodeLogStorage(path: path)
            let reports = Reports()
            let doomed = try node.openGroup(5, onDurable: reports.onDurable)
            doomed.persist(batch(1, entries: groupCommands(5, 1...10), hardState: HardState(term: 1, commitIndex: 10)))
            doomed.saveSnapshot(snapshot(at: 5))
            let outcome = Mutex<[StorageError?]>([])
            let reported = DispatchSemaphore(value: 0)
            try node.destroyGroup(5) { error in
                outcome.withLock { $0.append(error) }
                reported.signal()
            }
            #expect(node.isTombstoned(5), "refused from the moment it was asked")
            #expect(reported.wait(timeout: .now() + 10) == .success)
            #expect(outcome.withLock { $0 }.count == 1 && outcome.withLock { $0 }.first! == nil)
            #expect(fileStatus(path + "/groups/5") == nil, "its snapshots are gone once it is reported")
            // Again: nothing to do, reported at once.
            try node.destroyGroup(5) { error in
                outcome.withLock { $0.append(error) }
                reported.signal()
            }
            #expect(reported.wait(timeout: .now()) == .success)
            node.close()
            let reopened = try NodeLogStorage(path: path)
            #expect(reopened.isTombstoned(5))
            reopened.close()
        }
    }

    @Test("a destroyed group is tombstoned durably, loses its snapshots, and does not come back by accident")
    func destroyedGroupStaysDestroyed() throws {
        try withTemporaryDirectory { path in
            let options = NodeLogStorage.Options(writeAheadLog: .init(segmentBytes: 2048, segmentCountLimit: 4))
            let node = try NodeLogStorage(path: path, options: options)
            let doomedReports = Reports()
            let doomed = try node.openGroup(7, onDurable: doomedReports.onDurable, onFailure: doomedReports.onFailure)
            let survivorReports = Reports()
            let survivor = try node.openGroup(8, onDurable: survivorReports.onDurable)
            doomed.persist(batch(1, entries: groupCommands(7, 1...20), hardState: HardState(term: 2, commitIndex: 20)))
            doomed.saveSnapshot(snapshot(at: 10))
            doomed.persist(batch(2, hardState: HardState(term: 2, commitIndex: 20)))
            #expect(doomedReports.wait { $0.durableNumbers.last == 2 })
            #expect(try doomed.openNewestSnapshotForStreaming() != nil)

            try node.destroyGroup(7)
            #expect(node.isTombstoned(7))
            #expect(!node.isTombstoned(8))
            #expect(node.tombstonedGroups == [7])
            #expect(fileStatus(path + "/groups/7") == nil)
            #expect(doomed.health == .closed)
            #expect(
                expectStorageError { try doomed.submit(batch(3, entries: [groupCommand(7, 21)])) }?.code
                    == .groupDestroyed)
            try node.destroyGroup(7)  // Again: nothing to do.

            // Many segments later (the tombstone's own segment long released), the tombstone is still known.
            for number in UInt64(1)...60 {
                let first = (number - 1) * 10 + 1
                survivor.persist(batch(number, entries: groupCommands(8, first...first + 9)))
                if number % 10 == 0 { survivor.saveSnapshot(snapshot(at: first + 9)) }
            }
            #expect(survivorReports.wait { $0.durableNumbers.last == 60 })
            node.close()

            let reopened = try NodeLogStorage(path: path, options: options)
            defer { reopened.close() }
            #expect(reopened.isTombstoned(7))
            #expect(reopened.recoveredGroups == [8])
            let refusal = expectStorageError { try reopened.openGroup(7, onDurable: { _ in }) }
            #expect(refusal?.code == .groupDestroyed)
            #expect(refusal?.message.contains("allowingRecreation") == true)

            // Deliberately re-created: empty, and what it writes now is recovered, not what it had before.
            let reportsAgain = Reports()
            let recreated = try reopened.openGroup(7, allowingRecreation: true, onDurable: reportsAgain.onDurable)
            #expect(recreated.recovered.entries.isEmpty)
            #expect(recreated.recovered.snapshot == nil)
            #expect(!reopened.isTombstoned(7))
            recreated.persist(batch(1, entries: groupCommands(7, 1...3, term: 5), hardState: HardState(term: 5)))
            #expect(reportsAgain.wait { $0.durableNumbers == [1] })
            #expect(expectStorageError { try reopened.openGroup(7, onDurable: { _ in }) }?.code == .groupAlreadyOpen)
        }
    }

    @Test("a re-created group's new records survive a restart, its old ones do not return")
    func recreatedGroupRecovered() throws {
        try withTemporaryDirectory { path in
            let node = try NodeLogStorage(path: path)
            let reports = Reports()
            let group = try node.openGroup(3, onDurable: reports.onDurable)
            group.persist(batch(1, entries: groupCommands(3, 1...10)))
            #expect(reports.wait { $0.durableNumbers == [1] })
            try node.destroyGroup(3)
            let again = Reports()
            let recreated = try node.openGroup(3, allowingRecreation: true, onDurable: again.onDurable)
            recreated.persist(batch(1, entries: groupCommands(3, 1...2, term: 4)))
            #expect(again.wait { $0.durableNumbers == [1] })
            node.close()

            let reopened = try NodeLogStorage(path: path)
            defer { reopened.close() }
            #expect(!reopened.isTombstoned(3))
            let storage = try reopened.openGroup(3, onDurable: { _ in })
            #expect(storage.recovered.entries == groupCommands(3, 1...2, term: 4))
        }
    }

    @Test("a failed fdatasync fails every group, and nothing in it is reported durable")
    func failureFailsEveryGroup() throws {
        try withTemporaryDirectory { path in
            let io = FaultyFileIO()
            let node = try NodeLogStorage(path: path, options: .init(writeAheadLog: .init(io: io)))
            defer { node.close() }
            let reports = (1...3).map { _ in Reports() }
            let groups = try (1...3).map { number in
                try node.openGroup(
                    GroupID(UInt64(number)), onDurable: reports[number - 1].onDurable,
                    onFailure: reports[number - 1].onFailure)
            }
            io.failSyncs(true)
            groups[0].persist(batch(1, entries: [groupCommand(1, 1)]))
            for report in reports {
                #expect(report.wait { !$0.failureList.isEmpty })
                #expect(report.failureList.first?.code == .ioFailure)
                #expect(report.durableNumbers.isEmpty)
            }
            #expect(
                expectStorageError { try groups[2].submit(batch(1, entries: [groupCommand(3, 1)])) }?.code
                    == .storageFailed)
            #expect(expectStorageError { try node.destroyGroup(2) }?.code == .storageFailed)
            guard case .failed = groups[1].health else {
                Issue.record("group 2 is \(groups[1].health), not failed")
                return
            }
        }
    }

    @Test("segments go once no group needs them; a lagging group's live records are rewritten, not pinned forever")
    func laggingGroupRewritten() throws {
        try withTemporaryDirectory { path in
            let limit = 4
            let options = NodeLogStorage.Options(
                writeAheadLog: .init(segmentBytes: 2048, segmentCountLimit: limit))
            let node = try NodeLogStorage(path: path, options: options)
            let laggardReports = Reports()
            let busyReports = Reports()
            let laggard = try node.openGroup(1, onDurable: laggardReports.onDurable)
            let busy = try node.openGroup(2, onDurable: busyReports.onDurable)
            // The laggard writes a little and then nothing, and never snapshots: it needs its entries forever.
            let laggardHardState = HardState(term: 3, votedFor: 1, commitIndex: 4)
            laggard.persist(batch(1, entries: groupCommands(1, 1...5, term: 3), hardState: laggardHardState))
            #expect(laggardReports.wait { $0.durableNumbers == [1] })
            // The busy group writes forty segments' worth and snapshots as it goes, so it needs little.
            var highestSegments = 0
            for number in UInt64(1)...200 {
                let first = (number - 1) * 10 + 1
                busy.persist(batch(number, entries: groupCommands(2, first...first + 9)))
                if number % 5 == 0 { busy.saveSnapshot(snapshot(at: first + 9)) }
                #expect(busyReports.wait { $0.durableNumbers.last == number })
                highestSegments = max(highestSegments, try segmentCount(in: path))
            }
            // Without the rewrite, the laggard's first segment would hold back all forty. Sampled while the fsync
            // thread works, the count may be caught between a rollover and the release that follows it.
            #expect(highestSegments <= 2 * limit, "the log grew to \(highestSegments) segments")
            node.close()
            // Once the thread has finished (close waits for it), every group commit was followed by its release.
            #expect(try segmentCount(in: path) <= limit)

            let reopened = try NodeLogStorage(path: path, options: options)
            defer { reopened.close() }
            let recovered = try reopened.openGroup(1, onDurable: { _ in })
            #expect(recovered.recovered.entries == groupCommands(1, 1...5, term: 3))
            #expect(recovered.recovered.hardState == laggardHardState)
            let busyRecovered = try reopened.openGroup(2, onDurable: { _ in })
            // Its last snapshot covers everything it wrote.
            #expect(busyRecovered.recovered.entries.isEmpty)
            #expect(busyRecovered.recovered.snapshot?.lastIncludedIndex == 2000)
        }
    }

    @Test("without a rewrite, the oldest segment stays while a group needs it and goes once its snapshot covers it")
    func segmentsReleasedPerGroup() throws {
        try withTemporaryDirectory { directory in
            let options = WriteAheadLog.Options(segmentBytes: 1024, segmentCountLimit: 1000)
            let (log, _) = try WriteAheadLog.open(directory: directory, options: options)
            defer { log.close() }
            try log.append(groupCommands(1, 1...3), for: 1)
            for start in stride(from: UInt64(1), through: 200, by: 10) {
                try log.append(groupCommands(2, start...start + 9), for: 2)
            }
            try log.sync()
            let segments = log.segmentCount
            #expect(segments > 3)
            // Group 2's snapshot covers all of it, but group 1 still needs entry 1 to 3 in the oldest segment.
            #expect(try log.releaseSegments(of: 2, through: 200) == 0)
            #expect(try log.releaseSegments(of: 1, through: 2) == 0)
            // Group 1's snapshot now covers its entries too: everything but the active segment goes.
            #expect(try log.releaseSegments(of: 1, through: 3) == segments - 1)
        }
    }

    @Test("a rewrite is one checkpoint record: torn, it is cut whole; whole, it replaces the group's log")
    func checkpointIsAllOrNothing() throws {
        try withTemporaryDirectory { root in
            let pristine = root + "/pristine"
            let (log, _) = try WriteAheadLog.open(directory: pristine)
            try log.append(groupCommands(1, 1...20), for: 1)
            try log.append(groupCommands(2, 1...5), for: 2)
            try log.sync()
            log.close()
            let name = SegmentFile(sequence: 0).fileName
            let original = try readBytes(pristine + "/" + name)
            // What a rewrite of group 1 released through 10 writes.
            let checkpoint = GroupCheckpoint(
                snapshotReset: nil, entries: groupCommands(1, 11...20), hardState: HardState(term: 1, commitIndex: 20))
            var record = ByteWriter(capacity: 2048)
            RecordFrame.append(.groupCheckpoint, to: &record) { writer in
                GroupRecordPrefix.encode(1, into: &writer)
                checkpoint.encode(into: &writer)
            }

            // A crash in the middle of writing it: the torn record is cut, and nothing of group 1 is lost.
            let torn = root + "/torn"
            try makeDirectory(torn)
            try writeBytes(original + record.bytes.prefix(record.bytes.count / 2), to: torn + "/" + name)
            let (tornLog, tornRecovery) = try WriteAheadLog.open(directory: torn)
            tornLog.close()
            #expect(tornRecovery.tornTail != nil)
            #expect(tornRecovery.group(1).entries == groupCommands(1, 1...20))
            #expect(tornRecovery.group(2).entries == groupCommands(2, 1...5))

            // Written whole, before the old segment went: the group's log is the checkpoint's; others keep theirs.
            let whole = root + "/whole"
            try makeDirectory(whole)
            try writeBytes(original + record.bytes, to: whole + "/" + name)
            let (wholeLog, wholeRecovery) = try WriteAheadLog.open(directory: whole)
            wholeLog.close()
            #expect(wholeRecovery.tornTail == nil)
            #expect(wholeRecovery.group(1).entries == groupCommands(1, 11...20))
            #expect(wholeRecovery.group(1).hardState == HardState(term: 1, commitIndex: 20))
            #expect(wholeRecovery.group(2).entries == groupCommands(2, 1...5))
        }
    }

    @Test("a checkpoint whose entries are not contiguous is refused as corruption")
    func inconsistentCheckpointRefused() throws {
        try withTemporaryDirectory { directory in
            try writeLog(directory, commands(1...3))
            let segment = directory + "/" + SegmentFile(sequence: 0).fileName
            let end = try readBytes(segment).count
            let checkpoint = GroupCheckpoint(
                snapshotReset: nil, entries: [command(5), command(7)], hardState: nil)
            var record = ByteWriter(capacity: 256)
            RecordFrame.append(.groupCheckpoint, to: &record) { writer in
                GroupRecordPrefix.encode(testGroup, into: &writer)
                checkpoint.encode(into: &writer)
            }
            try writeBytes(try readBytes(segment) + record.bytes, to: segment)
            let error = expectStorageError { try WriteAheadLog.open(directory: directory) }
            #expect(error?.code == .corruption)
            #expect(error?.offset == end)
            #expect(error?.message.contains("not contiguous") == true)
        }
    }

    @Test("opening a group twice, or after close, is refused")
    func openRefusals() throws {
        try withTemporaryDirectory { path in
            let node = try NodeLogStorage(path: path)
            let group = try node.openGroup(4, onDurable: { _ in })
            #expect(expectStorageError { try node.openGroup(4, onDurable: { _ in }) }?.code == .groupAlreadyOpen)
            node.close()
            #expect(expectStorageError { try node.openGroup(5, onDurable: { _ in }) }?.code == .closed)
            #expect(expectStorageError { try group.submit(batch(1, entries: [groupCommand(4, 1)])) }?.code == .closed)
        }
    }
}

/// Segment files in a node's log directory.
func segmentCount(in path: String) throws -> Int {
    try Posix.listDirectory(path + "/wal").filter { SegmentFile(fileName: $0) != nil }.count
}
