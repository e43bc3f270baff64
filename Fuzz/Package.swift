// swift-tools-version: 6.2
// libFuzzer targets, one per decoder a stranger can reach (see docs/security.md, "Fuzzing"). In a package of their
// own so that CI's `swift test` never builds them; `bash Fuzz/run.sh [seconds]` builds and runs them all. Each target
// only calls its entry point in QuorumFuzzing, which QuorumFuzzingTests also runs over the committed corpora.
import PackageDescription

let harness: [Target.Dependency] = ["CLibFuzzer", .product(name: "QuorumFuzzing", package: "Quorum")]

let package = Package(
    name: "QuorumFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Quorum", path: "..")],
    targets: [
        .target(name: "CLibFuzzer"),
        .executableTarget(name: "FuzzFrameStream", dependencies: harness),
        .executableTarget(name: "FuzzPeerMessages", dependencies: harness),
        .executableTarget(name: "FuzzPeerControl", dependencies: harness),
        .executableTarget(name: "FuzzClientRequest", dependencies: harness),
        .executableTarget(name: "FuzzClientResponse", dependencies: harness),
        .executableTarget(name: "FuzzRESP", dependencies: harness),
        .executableTarget(name: "FuzzHTTPFramer", dependencies: harness),
        .executableTarget(name: "FuzzHTTPBodies", dependencies: harness),
        .executableTarget(name: "FuzzStoreCommand", dependencies: harness),
        .executableTarget(name: "FuzzStoreSnapshot", dependencies: harness),
        .executableTarget(name: "FuzzSnapshotFile", dependencies: harness),
        .executableTarget(name: "FuzzWALRecovery", dependencies: harness),
    ]
)
