// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
]

// What the simulator's thousands of worlds run (the pure core and the node driver) is optimised even in the debug
// build `swift test` makes: unoptimised, CI's seeds took 21 minutes instead of 4. Preconditions stay on (-O keeps
// them); only `assert` goes, and these modules use it nowhere a test relies on.
let simulated: [SwiftSetting] = strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "Quorum",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "quorum", targets: ["quorum"]),
        .library(name: "QuorumClient", targets: ["QuorumClient"]),
        .library(name: "QuorumConsensus", targets: ["QuorumConsensus"]),
        .library(name: "QuorumStore", targets: ["QuorumStore"]),
        .library(name: "QuorumStorage", targets: ["QuorumStorage"]),
        .library(name: "QuorumBalancing", targets: ["QuorumBalancing"]),
        .library(name: "QuorumSharding", targets: ["QuorumSharding"]),
        .library(name: "QuorumWire", targets: ["QuorumWire"]),
        .library(name: "QuorumCodec", targets: ["QuorumCodec"]),
        // For the fuzz package (Fuzz/), which builds a libFuzzer target around each of its entry points.
        .library(name: "QuorumFuzzing", targets: ["QuorumFuzzing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        // The HTTP/JSON API. No traits: neither swift-configuration support nor full Foundation is needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // bcrypt for users' passwords (only its HummingbirdBcrypt library is used: C, no other dependency).
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        // Already in the graph through Hummingbird; named so that the HTTP frontend may import them.
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Bytes in, bytes out: the little-endian reader and writer and the CRC32C under every format. Pure.
        .target(name: "QuorumCodec", dependencies: ["CQuorumCRC32C"], swiftSettings: simulated),
        // The CPU's CRC-32C instruction (SSE4.2, ARMv8 CRC) behind a run-time check. C because Swift cannot compile a
        // single function for an instruction set the rest of the build does not assume; SwiftPM builds it with the
        // toolchain's own clang, so it needs nothing installed.
        .target(name: "CQuorumCRC32C"),
        // Pure core: standard library and swift-collections only. No I/O, clocks, threads.
        .target(
            name: "QuorumConsensus",
            dependencies: ["QuorumCodec", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: simulated
        ),
        // The one node driver (persist → send → apply → respond), generic over its I/O.
        .target(
            name: "QuorumNode",
            dependencies: ["QuorumConsensus", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: simulated
        ),
        // Deterministic world: simulated network, disk and clock, checkers, workloads.
        .target(
            name: "QuorumSimulation",
            dependencies: [
                "QuorumCodec", "QuorumConsensus", "QuorumNode", "QuorumSharding", "QuorumStore", "QuorumWire",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: simulated
        ),
        // Which group owns which key: Redis Cluster's hash slots over the node's groups. Pure.
        .target(name: "QuorumSharding", dependencies: ["QuorumCodec", "QuorumConsensus"], swiftSettings: simulated),
        // Replicated MVCC key-value state machine (etcd v3 semantics), with the hash slots it serves. Pure.
        .target(
            name: "QuorumStore",
            dependencies: [
                "QuorumCodec", "QuorumConsensus", "QuorumSharding",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: simulated
        ),
        // Frames and codecs for peer and client connections. No I/O of its own: the server's handlers drive it.
        .target(
            name: "QuorumWire",
            dependencies: [
                "QuorumCodec", "QuorumConsensus", "QuorumSharding", "QuorumStore", .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Redis's Lua scripting on the system's Lua 5.1, opened at run time (dlopen): builds with no Lua installed.
        .target(name: "QuorumLua", dependencies: ["QuorumWire"], swiftSettings: strict),
        // The Swift client: async/await, leader discovery, safe retries with sessions.
        .target(
            name: "QuorumClient",
            dependencies: [
                "QuorumBalancing", "QuorumConsensus", "QuorumSharding", "QuorumStore", "QuorumWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Load-balancing policies and health (outlier ejection, slow start, panic). Pure: standard library only.
        .target(name: "QuorumBalancing", swiftSettings: strict),
        // The node runtime: the driver on a SwiftNIO event loop with real storage, peers and clients.
        .target(
            name: "QuorumServer",
            dependencies: [
                "QuorumClient", "QuorumConsensus", "QuorumLua", "QuorumNode", "QuorumSharding", "QuorumStorage",
                "QuorumStore", "QuorumWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // A TCP and HTTP/1.1 proxy balancing over the instances of a registered service.
        .target(
            name: "QuorumProxy",
            dependencies: [
                "QuorumBalancing", "QuorumClient", "QuorumWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // Chaos on real processes: a fault-injecting TCP proxy on every peer link of a cluster of `quorum server`
        // processes, a workload through the client and the Redis port, a fault schedule, the simulator's
        // linearizability checker over the history. Used by `quorum chaos` and by IntegrationTests' short run.
        .target(
            name: "QuorumChaos",
            dependencies: [
                "QuorumClient", "QuorumConsensus", "QuorumSimulation", "QuorumStore", "QuorumWire",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Durable storage: write-ahead log, snapshots, data directory, group commit. Does real I/O.
        .target(name: "QuorumStorage", dependencies: ["QuorumCodec", "QuorumConsensus", "QuorumNode"], swiftSettings: strict),
        // Every decoder a stranger can reach, as a function of bytes that checks its round trips: the fuzz package's
        // targets call these, and QuorumFuzzingTests runs them over the committed corpora. Does I/O (log recovery).
        .target(
            name: "QuorumFuzzing",
            dependencies: [
                "QuorumCodec", "QuorumConsensus", "QuorumStorage", "QuorumStore", "QuorumWire",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Appends and syncs log entries until killed; QuorumStorageTests kills it to test crash recovery.
        .executableTarget(
            name: "quorum-storage-crash-child",
            dependencies: ["QuorumStorage", "QuorumConsensus"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "quorum",
            dependencies: [
                "QuorumSimulation", "QuorumServer", "QuorumClient", "QuorumSharding", "QuorumStore", "QuorumConsensus", "QuorumWire",
                "QuorumProxy", "QuorumChaos",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "QuorumStorageTests",
            dependencies: ["QuorumStorage", "QuorumCodec", "QuorumConsensus", "QuorumNode"],
            swiftSettings: strict
        ),
        .testTarget(name: "QuorumLuaTests", dependencies: ["QuorumLua", "QuorumWire"], swiftSettings: strict),
        .testTarget(name: "QuorumConsensusTests", dependencies: ["QuorumConsensus"], swiftSettings: strict),
        .testTarget(name: "QuorumNodeTests", dependencies: ["QuorumNode", "QuorumConsensus"], swiftSettings: strict),
        .testTarget(name: "QuorumStoreTests", dependencies: ["QuorumStore", "QuorumConsensus", "QuorumSharding"], swiftSettings: strict),
        .testTarget(
            name: "QuorumShardingTests", dependencies: ["QuorumSharding", "QuorumConsensus", "QuorumCodec"], swiftSettings: strict
        ),
        .testTarget(
            name: "QuorumBalancingTests", dependencies: ["QuorumBalancing", "QuorumConsensus"], swiftSettings: strict
        ),
        .testTarget(
            name: "QuorumWireTests", dependencies: ["QuorumWire", "QuorumConsensus", "QuorumSharding", "QuorumStore"], swiftSettings: strict
        ),
        .testTarget(name: "QuorumFuzzingTests", dependencies: ["QuorumFuzzing"], swiftSettings: strict),
        // Shares the machine's cores between simulated worlds and the suites that run real processes.
        .target(name: "QuorumTestCores", path: "Tests/QuorumTestCores", swiftSettings: strict),
        // Starts real `quorum server` processes on 127.0.0.1.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "QuorumChaos", "QuorumTestCores", "QuorumClient", "QuorumConsensus", "QuorumProxy", "QuorumServer", "QuorumSharding",
                "QuorumStore", "QuorumSimulation",
                "quorum", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "QuorumSimulationTests",
            dependencies: ["QuorumSimulation", "QuorumConsensus", "QuorumNode", "QuorumSharding", "QuorumTestCores"],
            swiftSettings: strict
        ),
    ]
)
