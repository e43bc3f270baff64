// Operations per second of the key-value state machine alone, on one core: no log, no I/O. 100k keys of
// 16 bytes with 100-byte values, as in the issue's `quorum bench`. A server applies through this, so it must
// stay far above what consensus and fsync allow.
//
//   swift run -c release --package-path Benchmarks StoreThroughput [keys]
import QuorumConsensus
import QuorumStore

let keyCount = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000

/// "k" + 15 decimal digits: 16 bytes that sort in numeric order.
func key(_ number: Int) -> [UInt8] {
    var digits = Array(repeating: UInt8(ascii: "0"), count: 16)
    digits[0] = UInt8(ascii: "k")
    var rest = number
    var position = 15
    while rest > 0 && position > 0 {
        digits[position] = UInt8(ascii: "0") + UInt8(rest % 10)
        rest /= 10
        position -= 1
    }
    return digits
}


let clock = ContinuousClock()
func measure(_ name: String, operations: Int, _ body: () -> Void) {
    let elapsed = clock.measure(body)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = Double(operations) / seconds
    let padded = name + String(repeating: " ", count: max(0, 34 - name.count))
    print("\(padded) \(Int(rate)) ops/s  (\(operations) in \(Int(seconds * 1000)) ms)")
}

var generator = SplitMix64(seed: 42)
let value = (0..<100).map { UInt8(truncatingIfNeeded: $0) }
var order = Array(0..<keyCount)
order.shuffle(using: &generator)
let keys = order.map(key)
let sortedKeys = (0..<keyCount).map(key)
var store = KeyValueStore()
var sink = 0

print("StoreThroughput: \(keyCount) keys, 16-byte keys, 100-byte values")
measure("put (new keys, random order)", operations: keyCount) {
    for key in keys { sink &+= store.apply(.put(PutRequest(key: key, value: value))).events.count }
}
measure("put (overwrite, random order)", operations: keyCount) {
    for key in keys.reversed() { sink &+= store.apply(.put(PutRequest(key: key, value: value))).events.count }
}
let gets = 2 * keyCount
measure("get (range of one key)", operations: gets) {
    for round in 0..<gets {
        sink &+= (try? store.range(RangeRequest(key: keys[round % keyCount])))?.count ?? 0
    }
}
measure("get (past revision)", operations: gets) {
    for round in 0..<gets {
        let request = RangeRequest(key: keys[round % keyCount], revision: Revision(UInt64(keyCount)))
        sink &+= (try? store.range(request))?.count ?? 0
    }
}
let ranges = 20_000
measure("range of 100 keys [start, start+100)", operations: ranges) {
    for _ in 0..<ranges {
        let start = Int(generator.next() % UInt64(keyCount - 100))
        let request = RangeRequest(key: sortedKeys[start], rangeEnd: sortedKeys[start + 100])
        sink &+= (try? store.range(request))?.kvs.count ?? 0
    }
}
let encodedPuts = keys.prefix(100_000).map { StoreProposal(.put(PutRequest(key: $0, value: value))).encoded }
measure("decode + apply put proposal", operations: encodedPuts.count) {
    for bytes in encodedPuts {
        if let proposal = try? StoreProposal(decoding: bytes) { sink &+= store.apply(proposal).events.count }
    }
}
// Compaction is paid for a bounded slice per applied command; report the worst pause it adds to one command.
let historyBefore = store.revision.rawValue
_ = store.apply(.compact(store.revision))
var worstCommand = Duration.zero
let compactionCommands = Int(historyBefore) / StoreLimits.default.compactionStepsPerCommand + 1
measure("commands while compacting \(historyBefore) writes", operations: compactionCommands) {
    for _ in 0..<compactionCommands {
        let one = clock.measure { sink &+= store.apply(.range(RangeRequest(key: keys[0]))).events.count }
        worstCommand = max(worstCommand, one)
    }
}
print("  slowest command during compaction: \(worstCommand)")
// Leases, in a store of their own. The leader asks for the due leases on every tick, so the ask when none is due
// must not grow with the number of leases; keep-alives land at random places in the expiry order.
let leaseCount = max(1, keyCount / 10)
let leaseTTLs = (0..<leaseCount).map { _ in LeaseTTL(milliseconds: 10_000 + generator.next() % 50_000) }
var leaseStore = KeyValueStore()
measure("lease grant (TTLs 10-60 s)", operations: leaseCount) {
    for (offset, ttl) in leaseTTLs.enumerated() {
        let grant = StoreCommand.leaseGrant(id: LeaseID(UInt64(offset + 1)), ttl: ttl, grantedAt: 0)
        sink &+= leaseStore.apply(grant).events.count
    }
}
let ticks = 1_000_000
measure("expiredLeases, none due, \(leaseCount) leases", operations: ticks) {
    for tick in 0..<ticks {
        sink &+= leaseStore.expiredLeases(now: StoreTime(milliseconds: UInt64(tick % 5_000)), limit: 128).count
    }
}
measure("lease keep-alive", operations: leaseCount) {
    for id in 1...leaseCount {
        sink &+= leaseStore.apply(.leaseKeepAlive(id: LeaseID(UInt64(id)), at: 5_000)).events.count
    }
}
measure("expiredLeases + revoke, 128 per tick", operations: leaseCount) {
    while case let due = leaseStore.expiredLeases(now: 70_000, limit: 128), !due.isEmpty {
        for id in due { sink &+= leaseStore.apply(.leaseRevoke(id)).events.count }
    }
}
var snapshotBytes: [UInt8] = []
measure("snapshot", operations: 1) { snapshotBytes = store.snapshot() }
measure("restore", operations: 1) {
    sink &+= (try? KeyValueStore(restoringFrom: snapshotBytes))?.revision.rawValue == 0 ? 0 : 1
}
print("snapshot bytes: \(snapshotBytes.count); checksum \(sink)")
