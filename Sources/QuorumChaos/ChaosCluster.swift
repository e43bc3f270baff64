import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Real `quorum server` processes on 127.0.0.1 whose peer links all pass through a `ChaosProxy`: node `i` listens
/// on its own peer port, but its `--cluster` list gives, for every other node `j`, the proxy's listener of link
/// `i→j`. Every process started here is ended by `stopAll()`.
///
/// The cluster id is derived from the founding list, and each node's list differs from the others' (in the peer
/// ports of the others), so each node is first started once with the real, common list, which records the cluster
/// in its data directory, and killed; a restart is checked against that record by node ids, not addresses, and
/// takes its addresses from its own list.
public final class ChaosCluster: @unchecked Sendable {
    // @unchecked Sendable: driven by one task (the chaos run) at a time.
    public struct Member: Sendable {
        public var id: Int
        public var peerPort: Int
        public var clientPort: Int
        public var redisPort: Int
        public var clientEndpoint: String { "127.0.0.1:\(clientPort)" }
        /// `HOST:PEER_PORT:CLIENT_PORT`, as a member is added with.
        public var address: String { "127.0.0.1:\(peerPort):\(clientPort)" }
        public var redisEndpoint: String { "127.0.0.1:\(redisPort)" }
    }

    public let members: [Member]
    public let proxy: ChaosProxy
    public let directory: URL
    private let executable: URL
    private let tickMilliseconds: Int
    private let snapshotEntries: Int
    private var processes: [Int: Process] = [:]
    private var paused: Set<Int> = []
    /// Nodes added while the cluster runs (`membershipChange` faults), beyond `members`, by id.
    private var spares: [Int: (member: Member, process: Process?)] = [:]
    private var lastSpareID: Int
    /// Each member's own small file system, when the run fills disks.
    private var disks: [Int: SmallDisk] = [:]
    /// Members that ended without being killed, with the end of their log: every one is a failure of the run.
    public private(set) var unexpectedExits: [String] = []

    /// Starts `size` nodes and waits until each has started (not until they elected a leader); with `smallDisks`,
    /// each on a small file system of its own (`SmallDisk`), which `fillDisk` can fill.
    public static func start(
        size: Int, executable: URL, tickMilliseconds: Int, snapshotEntries: Int, seed: UInt64, smallDisks: Bool = false
    ) async throws -> ChaosCluster {
        let members = try (1...size).map {
            Member(
                id: $0, peerPort: try LocalPorts.free(), clientPort: try LocalPorts.free(),
                redisPort: try LocalPorts.free())
        }
        var links: [Link: Int] = [:]
        for from in members {
            for to in members where to.id != from.id { links[Link(from: from.id, to: to.id)] = to.peerPort }
            links[.clients(to: from.id)] = from.clientPort
        }
        let proxy = try await ChaosProxy.start(targets: links, seed: seed)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "quorum-chaos-\(UUID().uuidString)")
        let cluster = ChaosCluster(
            members: members, proxy: proxy, directory: directory, executable: executable,
            tickMilliseconds: tickMilliseconds, snapshotEntries: snapshotEntries)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            if smallDisks {
                for member in members {
                    cluster.disks[member.id] = try SmallDisk.mount(at: cluster.dataDirectory(of: member.id))
                }
            }
            for member in members {
                let port = try await proxy.port(of: .clients(to: member.id))
                cluster.workloadEndpoints.append("127.0.0.1:\(port)")
            }
            for member in members { try await cluster.found(member.id) }
            for member in members { try await cluster.start(member.id) }
        } catch {
            await cluster.stopAll(keepingFiles: false)
            throw error
        }
        return cluster
    }

    private init(
        members: [Member], proxy: ChaosProxy, directory: URL, executable: URL, tickMilliseconds: Int,
        snapshotEntries: Int
    ) {
        self.members = members
        self.proxy = proxy
        self.directory = directory
        self.executable = executable
        self.tickMilliseconds = tickMilliseconds
        self.snapshotEntries = snapshotEntries
        self.lastSpareID = members.count
    }

    /// The members' client ports, for the runner's own requests (fault injection, the final reads).
    public var clientEndpoints: [String] { members.map(\.clientEndpoint) }
    /// The proxy's listeners in front of the members' client ports, for the workload's Swift clients.
    public private(set) var workloadEndpoints: [String] = []

    /// The list every node founds the cluster with: real addresses.
    private var commonList: String {
        members.map { "\($0.id)=\($0.address)" }.joined(separator: ",")
    }

    /// Node `id`'s list: its own real ports, and for each other node the proxy's listeners, for its peer link and
    /// for the clients' links, so that the clients it redirects reach the other node through the proxy too.
    private func list(of id: Int) async throws -> String {
        var entries: [String] = []
        for member in members {
            if member.id == id {
                entries.append("\(member.id)=\(member.address)")
                continue
            }
            let peerPort = try await proxy.port(of: Link(from: id, to: member.id))
            let clientPort = try await proxy.port(of: .clients(to: member.id))
            entries.append("\(member.id)=127.0.0.1:\(peerPort):\(clientPort)")
        }
        return entries.joined(separator: ",")
    }

    private func arguments(of member: Member, list: String) -> [String] {
        [
            "server", "--id", "\(member.id)", "--cluster", list, "--data-dir", dataDirectory(of: member.id).path,
            "--tick-milliseconds", "\(tickMilliseconds)", "--redis-port", "\(member.redisPort)",
            "--snapshot-entries", "\(snapshotEntries)",
        ]
    }

    private func dataDirectory(of id: Int) -> URL { directory.appendingPathComponent("n\(id)") }

    /// Runs node `id` with the common list until it says it serves, which it does once its data directory records
    /// the cluster, then kills it.
    private func found(_ id: Int) async throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments(of: members[id - 1], list: commonList)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let said = try await offConcurrencyPool { () -> String in
            var said = ""
            while !said.contains("serving clients") {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                said += String(decoding: data, as: UTF8.self)
            }
            return said
        }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        guard said.contains("serving clients") else { throw StartFailed(node: id, output: said) }
    }

    public struct StartFailed: Error, CustomStringConvertible {
        public var node: Int
        public var output: String
        public var description: String { "node \(node) did not start:\n\(output.suffix(3000))" }
    }

    /// Starts node `id` (after a kill, on the data it had) with its list through the proxy.
    public func start(_ id: Int) async throws {
        processes[id] = try launch(arguments(of: members[id - 1], list: try await list(of: id)), id: id)
    }

    private func launch(_ arguments: [String], id: Int) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let log = logPath(of: id)
        guard
            FileManager.default.fileExists(atPath: log.path)
                || FileManager.default.createFile(atPath: log.path, contents: nil),
            let output = FileHandle(forWritingAtPath: log.path)
        else { throw POSIXError(.EACCES) }
        defer { try? output.close() }
        output.seekToEndOfFile()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        return process
    }

    /// Fills member `id`'s file system; false if it has none of its own.
    func fillDisk(_ id: Int) async throws -> Bool {
        guard let disk = disks[id] else { return false }
        try await offConcurrencyPool { try disk.fill() }
        return true
    }

    func freeDisk(_ id: Int) { disks[id]?.free() }

    /// The size of node `id`'s log now, to read what it says from then on.
    func logSize(of id: Int) -> UInt64 {
        let attributes = try? FileManager.default.attributesOfItem(atPath: logPath(of: id).path)
        return (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// Whether node `id`'s log says `text` after its first `offset` bytes.
    func log(of id: Int, says text: String, after offset: UInt64) -> Bool {
        guard let log = FileHandle(forReadingAtPath: logPath(of: id).path) else { return false }
        defer { try? log.close() }
        guard (try? log.seek(toOffset: offset)) != nil, let tail = try? log.readToEnd() else { return false }
        return String(decoding: tail, as: UTF8.self).contains(text)
    }

    private func logPath(of id: Int) -> URL { directory.appendingPathComponent("n\(id).log") }

    /// For each of `texts`, how many lines of every node's log, the added nodes' included, contain it: one pass.
    func logLines(containing texts: [String]) -> [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: texts.map { ($0, 0) })
        let logs = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        for log in logs where log.pathExtension == "log" {
            let content = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            for line in content.split(separator: "\n") {
                for text in texts where line.contains(text) { counts[text, default: 0] += 1 }
            }
        }
        return counts
    }

    // MARK: Spares

    /// A new node the cluster has not heard of: its id (never used before) and ports. Add it to the cluster, then
    /// start it with `startSpare`.
    public func reserveSpare() throws -> Member {
        lastSpareID += 1
        let spare = Member(
            id: lastSpareID, peerPort: try LocalPorts.free(), clientPort: try LocalPorts.free(),
            redisPort: try LocalPorts.free())
        spares[spare.id] = (spare, nil)
        return spare
    }

    /// Starts spare `id` with `--join`, on an empty data directory. Its own links to the members pass through the
    /// proxy; the members reach it at the address it was added with, which the proxy cannot put itself in front of
    /// for each member separately, so those links are direct.
    public func startSpare(_ id: Int) async throws {
        guard let spare = spares[id]?.member else { return }
        var entries: [String] = []
        for member in members {
            let link = Link(from: id, to: member.id)
            try await proxy.listen(for: link, target: member.peerPort)
            entries.append("\(member.id)=127.0.0.1:\(try await proxy.port(of: link)):\(member.clientPort)")
        }
        entries.append("\(id)=\(spare.address)")
        let arguments = arguments(of: spare, list: entries.joined(separator: ",")) + ["--join"]
        spares[id]?.process = try launch(arguments, id: id)
    }

    /// Ends spare `id`, which the cluster no longer counts as a member, and deletes its data. Its exit is no
    /// failure: a removed node ends by itself once it learns that it was removed.
    public func stopSpare(_ id: Int) {
        guard let process = spares.removeValue(forKey: id)?.process else { return }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: dataDirectory(of: id))
    }

    /// Spares reserved and not yet stopped.
    public var spareIDs: [Int] { spares.keys.sorted() }

    public func isRunning(_ id: Int) -> Bool { processes[id] != nil }

    /// SIGKILL: no chance to flush anything, as in a power cut of the process.
    public func kill(_ id: Int) {
        guard let process = processes.removeValue(forKey: id) else { return }
        noteUnexpectedExit(of: id, process)
        // A process that already ended has been reaped, and its pid may belong to someone else by now.
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        paused.remove(id)
    }

    /// SIGSTOP: the process keeps its sockets and its state but does nothing, as in a long GC pause or a VM stall.
    public func pause(_ id: Int) {
        guard let process = processes[id], process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGSTOP)
        paused.insert(id)
    }

    public func resume(_ id: Int) {
        guard paused.remove(id) != nil, let process = processes[id], process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGCONT)
    }

    private func noteUnexpectedExit(of id: Int, _ process: Process) {
        guard !process.isRunning else { return }
        let log = (try? String(contentsOf: directory.appendingPathComponent("n\(id).log"), encoding: .utf8)) ?? ""
        unexpectedExits.append(
            "node \(id) ended by itself (status \(process.terminationStatus)); the end of its log:\n\(log.suffix(2000))"
        )
    }

    /// Kills every process and stops the proxy; the data directories and logs stay when `keepingFiles`.
    public func stopAll(keepingFiles: Bool) async {
        for id in Array(processes.keys).sorted() {
            resume(id)
            kill(id)
        }
        for id in spareIDs { stopSpare(id) }
        for (id, disk) in disks.sorted(by: { $0.key < $1.key }) {
            do {
                try disk.unmount(keepingAt: keepingFiles ? directory.appendingPathComponent("n\(id).kept") : nil)
            } catch {
                unexpectedExits.append("node \(id)'s small file system could not be unmounted: \(error)")
            }
        }
        disks.removeAll()
        await proxy.stop()
        if !keepingFiles { try? FileManager.default.removeItem(at: directory) }
    }
}

/// Runs blocking work (a tool run to its end, a pipe or socket read) on a thread of its own. The concurrency pool has
/// one thread per core: blocking one for a redis-benchmark run stalled every async test beside it.
public func offConcurrencyPool<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
