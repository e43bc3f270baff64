import ArgumentParser
import Foundation
import QuorumClient

#if canImport(Glibc)
    import Glibc
#endif

/// A load generator against a running cluster: puts, linearizable gets, or a mix, from concurrent clients.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput and latency against a running cluster.",
        discussion: "Each client is its own connection with one request in flight; --clients sets the concurrency.")

    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case put, get, mixed
        /// Every client acquires and releases one lock, in turn with all the others.
        case lock
    }

    @OptionGroup var options: ClientOptions
    @Option(help: "put, get (linearizable), mixed (half each), or lock (acquire + release of one contended lock).")
    var workload: Workload = .put
    @Option(help: "Concurrent clients.") var clients = 16
    @Option(help: "Seconds to run.") var duration = 10
    @Option(help: "Distinct keys.") var keys = 1_000
    @Option(help: "Key size in bytes.") var keyBytes = 16
    @Option(help: "Value size in bytes.") var valueBytes = 100
    @Option(help: "Spread the clients over groups 1...N (round robin); the nodes must host them (--groups).")
    var groups = 1
    @Option(help: "Server process ids, comma-separated: report the CPU they used during the run (Linux).")
    var serverPids: String?

    func validate() throws {
        guard clients > 0, duration > 0, keys > 0, keyBytes >= 8, valueBytes >= 0, groups > 0 else {
            throw ValidationError(
                "--clients, --duration, --keys and --groups must be positive and --key-bytes at least 8")
        }
    }

    func run() async throws {
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: valueBytes)
        let keyList = (0..<keys).map { number in
            let digits = Array(String(number).utf8)
            return [UInt8](repeating: UInt8(ascii: "k"), count: max(0, keyBytes - digits.count)) + digits
        }
        if workload == .get || workload == .mixed {
            let loader = try options.makeClient()
            for key in keyList.prefix(min(keys, 1_000)) { _ = try? await loader.put(key, value) }
            await loader.close()
        }
        let progress = Progress()
        let deadline = ContinuousClock.now + .seconds(duration)
        let reporter = Task {
            var last = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let done = await progress.completed
                FileHandle.standardError.write(Data("\r\(done) operations, \(done - last)/s   ".utf8))
                last = done
            }
        }
        let pids = (serverPids ?? "").split(separator: ",").compactMap { Int32($0) }
        let cpuBefore = Self.cpuSeconds(of: pids)
        let started = ContinuousClock.now
        let latencies = await withTaskGroup(of: [Duration].self) { group in
            for worker in 0..<clients {
                group.addTask {
                    var addressed = options
                    if groups > 1 { addressed.group = UInt64(1 + worker % groups) }
                    // The loader's client was made with the same options, so this one cannot fail.
                    guard let client = try? addressed.makeClient() else { return [] }
                    var latencies: [Duration] = []
                    var position = worker
                    let session = workload == .lock ? try? await Session(client: client, ttl: .seconds(10)) : nil
                    while ContinuousClock.now < deadline {
                        let key = keyList[position % keyList.count]
                        position += clients
                        let begin = ContinuousClock.now
                        do {
                            if workload == .lock {
                                guard let session else {
                                    throw QuorumClientError.refused("no session: its lease could not be granted")
                                }
                                try await client.lock("bench", session: session).unlock()
                            } else if workload == .put || (workload == .mixed && position % 2 == 0) {
                                try await client.put(key, value)
                            } else {
                                _ = try await client.get(key)
                            }
                            latencies.append(begin.duration(to: .now))
                            await progress.add()
                        } catch {
                            await progress.fail()
                        }
                    }
                    try? await session?.close()
                    await client.close()
                    return latencies
                }
            }
            var all: [Duration] = []
            for await partial in group { all += partial }
            return all
        }
        reporter.cancel()
        let elapsed = started.duration(to: .now)
        FileHandle.standardError.write(Data("\r".utf8))
        let failures = await progress.failed
        print(report(latencies.sorted(), elapsed: elapsed, failures: failures))
        if !pids.isEmpty, let before = cpuBefore, let after = Self.cpuSeconds(of: pids) {
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let cores = (after - before) / seconds
            print(
                String(
                    format: "server CPU: %.2f cores, %.0f operations per server core-second", cores,
                    Double(latencies.count) / (after - before)))
        }
    }

    /// User + system CPU seconds the processes have used so far, from /proc; nil where that is not available.
    static func cpuSeconds(of pids: [Int32]) -> Double? {
        guard !pids.isEmpty else { return nil }
        var total = 0.0
        for pid in pids {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let afterName = stat.range(of: ") ")
            else { return nil }
            // Fields after the command name: state is the 3rd field, utime the 14th and stime the 15th.
            let fields = stat[afterName.upperBound...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
            total += (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        return total
    }

    private func report(_ sorted: [Duration], elapsed: Duration, failures: Int) -> String {
        func milliseconds(_ duration: Duration) -> String {
            let value = Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
            return String(format: "%.2f ms", value)
        }
        func percentile(_ fraction: Double) -> String {
            sorted.isEmpty ? "-" : milliseconds(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))])
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let widths = [12, 9, 10, 12, 12, 12, 12, 8]
        return [
            tableRow(["WORKLOAD", "CLIENTS", "OPS", "OPS/S", "P50", "P99", "P99.9", "FAILED"], widths),
            tableRow(
                [
                    workload.rawValue, "\(clients)", "\(sorted.count)",
                    String(format: "%.0f", Double(sorted.count) / seconds),
                    percentile(0.5), percentile(0.99), percentile(0.999), "\(failures)",
                ], widths),
        ].joined(separator: "\n")
    }
}

/// Counts shared by the workers and the progress line.
actor Progress {
    private(set) var completed = 0
    private(set) var failed = 0
    func add() { completed += 1 }
    func fail() { failed += 1 }
}
