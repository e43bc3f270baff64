// swift-tools-version: 6.2
// Benchmarks live in their own package so that CI never builds them. Run with
// `swift run -c release --package-path Benchmarks <name>`.
import PackageDescription

let package = Package(
    name: "QuorumBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Quorum", path: ".."),
        // Already in the graph through Quorum; named for the HTTP backend below.
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        .executableTarget(
            name: "EngineThroughput",
            dependencies: [.product(name: "QuorumConsensus", package: "Quorum")]
        ),
        .executableTarget(
            name: "WALThroughput",
            dependencies: [
                .product(name: "QuorumConsensus", package: "Quorum"),
                .product(name: "QuorumStorage", package: "Quorum"),
            ]
        ),
        // fdatasyncs per write with 1, 8 and 64 groups sharing one node's write-ahead log.
        .executableTarget(
            name: "GroupCommitFsyncs",
            dependencies: [
                // PersistBatch comes from QuorumNode, which QuorumStorage depends on (it is not a product).
                .product(name: "QuorumConsensus", package: "Quorum"), .product(name: "QuorumStorage", package: "Quorum"),
            ]
        ),
        .executableTarget(
            name: "StoreThroughput",
            dependencies: [
                .product(name: "QuorumStore", package: "Quorum"), .product(name: "QuorumConsensus", package: "Quorum"),
            ]
        ),
        // CRC32C, the frame codec, RESP and the HTTP/1.1 framer, one core, no I/O.
        .executableTarget(
            name: "CodecThroughput",
            dependencies: [
                .product(name: "QuorumCodec", package: "Quorum"), .product(name: "QuorumWire", package: "Quorum"),
                .product(name: "QuorumConsensus", package: "Quorum"), .product(name: "QuorumStore", package: "Quorum"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Simulates the real balancing policies against backends of which one is slow and writes
        // docs/images/balancing-p99.svg. Run from the repository root.
        .executableTarget(
            name: "BalancingPlot",
            dependencies: [
                .product(name: "QuorumBalancing", package: "Quorum"), .product(name: "QuorumConsensus", package: "Quorum"),
            ]
        ),
        // Ticks, bytes and wall time for the placement driver to rebalance 10,000 shards after nodes join.
        .executableTarget(
            name: "PlacementRebalance",
            dependencies: [
                .product(name: "QuorumSharding", package: "Quorum"), .product(name: "QuorumConsensus", package: "Quorum"),
            ]
        ),
        // The HTTP backend that Benchmarks/peers/run_proxy_vs_haproxy.sh puts behind both proxies.
        .executableTarget(
            name: "HTTPBenchBackend",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ]
)
