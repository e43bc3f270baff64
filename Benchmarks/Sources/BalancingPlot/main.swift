// p99 latency of balancing policies as load rises, when one backend of ten is slow: a discrete-event simulation
// that drives the REAL policy code (through `Balancer`) and writes docs/images/balancing-p99.svg.
//
//   swift run -c release --package-path Benchmarks BalancingPlot [output.svg]
//
// Run it from the repository root. The model, chosen to be simple enough to reason about:
// - 10 backends, each with 4 workers and a FIFO queue in front of them; service times are exponential with a
//   mean of 4 ms, except backend 10, whose mean is 20 ms (a bad disk, a noisy neighbour, a GC storm).
//   Capacity: 9 × 1000 + 200 = 9200 requests per second.
// - Open-loop Poisson arrivals at a fraction of that capacity, from 10% to 90%.
// - 200 000 requests per point after 20 000 of warm-up; latency is queueing plus service, as a client sees it.
// Everything is seeded: the same binary writes the same SVG.
import Foundation
import QuorumBalancing
import QuorumConsensus

extension SplitMix64 {
    /// An exponentially distributed sample with the given mean.
    mutating func exponential(mean: Double) -> Double {
        // 1 − U is in (0, 1], so the logarithm is finite.
        -mean * log(1 - Double.random(in: 0..<1, using: &self))
    }
}

let backendCount = 10
let workersPerBackend = 4
let meanServiceMicroseconds = 4_000.0
let slowFactor = 5.0
let measuredRequests = 200_000
let warmUpRequests = 20_000

/// Total throughput the fleet can sustain, in requests per microsecond.
let capacityPerMicrosecond: Double = {
    let fast = Double(backendCount - 1) * Double(workersPerBackend) / meanServiceMicroseconds
    let slow = Double(workersPerBackend) / (meanServiceMicroseconds * slowFactor)
    return fast + slow
}()

/// A request waiting in a backend's queue or being served.
struct Request {
    var arrival: Double
    var service: Double
    /// False during warm-up: those latencies are fed to the policy but not measured.
    var measured: Bool
}

/// One backend: a pool of workers and the queue in front of them.
struct SimulatedBackend {
    var busyWorkers = 0
    var queue: [Request] = []
    var queueHead = 0
}

/// A completion event: which backend finishes which request, when. Ordered by time in `completions`.
struct Completion {
    var time: Double
    var backend: Int
    var request: Request
}

/// A binary min-heap of completions by time. (The benchmark stays free of package dependencies of its own.)
struct CompletionQueue {
    private var heap: [Completion] = []
    var first: Completion? { heap.first }

    mutating func push(_ completion: Completion) {
        heap.append(completion)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].time < heap[parent].time else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Completion {
        let top = heap[0]
        let last = heap.removeLast()
        guard !heap.isEmpty else { return top }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].time < heap[smallest].time { smallest = left }
            if right < heap.count && heap[right].time < heap[smallest].time { smallest = right }
            guard smallest != parent else { return top }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// Runs one simulation and returns the 99th-percentile latency in milliseconds.
func simulate<Policy: LoadBalancingPolicy>(policy: Policy, load: Double, seed: UInt64) -> Double {
    let backends = (1...backendCount).map { Backend(id: BackendID(UInt64($0))) }
    // Health checking is not what this plot is about: nothing fails, so nothing would be ejected anyway.
    var balancer = try! Balancer(
        backends: backends, policy: policy, health: HealthConfiguration(outlierDetection: nil))
    var random = SplitMix64(seed: seed)
    var world = SplitMix64(seed: seed ^ 0x5eed)
    var simulated = Array(repeating: SimulatedBackend(), count: backendCount)
    var completions = CompletionQueue()
    let arrivalRate = load * capacityPerMicrosecond
    var nextArrival = world.exponential(mean: 1 / arrivalRate)
    var arrivals = 0
    var latencies: [Double] = []
    latencies.reserveCapacity(measuredRequests)

    func time(_ microseconds: Double) -> BalancerTime { BalancerTime(microseconds: UInt64(microseconds)) }

    func startService(_ request: Request, on index: Int, at now: Double) {
        simulated[index].busyWorkers += 1
        completions.push(Completion(time: now + request.service, backend: index, request: request))
    }

    while latencies.count < measuredRequests {
        if let completion = completions.first, completion.time <= nextArrival {
            _ = completions.pop()
            let now = completion.time
            let latency = now - completion.request.arrival
            balancer.requestFinished(
                on: BackendID(UInt64(completion.backend + 1)), latency: BalancerDuration(microseconds: UInt64(latency)),
                outcome: .success, now: time(now))
            if completion.request.measured { latencies.append(latency) }
            simulated[completion.backend].busyWorkers -= 1
            if simulated[completion.backend].queueHead < simulated[completion.backend].queue.count {
                let next = simulated[completion.backend].queue[simulated[completion.backend].queueHead]
                simulated[completion.backend].queueHead += 1
                startService(next, on: completion.backend, at: now)
            }
        } else {
            let now = nextArrival
            nextArrival += world.exponential(mean: 1 / arrivalRate)
            arrivals += 1
            let chosen = balancer.pick(using: &random, now: time(now))!
            let index = Int(chosen.rawValue) - 1
            let mean = index == backendCount - 1 ? meanServiceMicroseconds * slowFactor : meanServiceMicroseconds
            let request = Request(
                arrival: now, service: world.exponential(mean: mean), measured: arrivals > warmUpRequests)
            if simulated[index].busyWorkers < workersPerBackend {
                startService(request, on: index, at: now)
            } else {
                simulated[index].queue.append(request)
            }
        }
    }
    latencies.sort()
    return latencies[latencies.count * 99 / 100] / 1_000
}

// MARK: The plot

let loads = stride(from: 10, through: 90, by: 5).map { Double($0) / 100 }
let series: [(name: String, color: String, run: (Double, UInt64) -> Double)] = [
    ("round-robin", "#d62728", { simulate(policy: RoundRobinPolicy(), load: $0, seed: $1) }),
    ("least outstanding", "#1f77b4", { simulate(policy: LeastOutstandingRequestsPolicy(), load: $0, seed: $1) }),
    ("power of two choices", "#2ca02c", { simulate(policy: PowerOfTwoChoicesPolicy(), load: $0, seed: $1) }),
    ("P2C peak EWMA", "#9467bd", { simulate(policy: PeakEWMAPolicy(), load: $0, seed: $1) }),
]

let output = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "docs/images/balancing-p99.svg"
var results: [[Double]] = []
print("load  " + series.map { $0.name.padding(toLength: 22, withPad: " ", startingAt: 0) }.joined())
for (index, load) in loads.enumerated() {
    let row = series.map { $0.run(load, UInt64(index + 1)) }
    results.append(row)
    print(String(format: "%3.0f%%  ", load * 100) + row.map { String(format: "%-22.1f", $0) }.joined())
}

let chart = SVGChart(
    title: "p99 latency when 1 of 10 backends is 5× slower",
    subtitle:
        "10 backends × 4 workers, exponential service 4 ms (slow one 20 ms), Poisson arrivals, 200k requests per point",
    xLabel: "offered load (% of total capacity, 9200 req/s)", yLabel: "p99 latency (ms, log scale)",
    xValues: loads.map { $0 * 100 },
    series: series.enumerated().map { index, entry in
        SVGChart.Series(name: entry.name, color: entry.color, values: results.map { $0[index] })
    },
    // The p99 of a 4 ms exponential service time with no queueing at all: what a perfect policy could reach.
    reference: ("ideal: service time only", meanServiceMicroseconds * log(100) / 1_000))
try chart.render().write(toFile: output, atomically: true, encoding: .utf8)
print("wrote \(output)")
